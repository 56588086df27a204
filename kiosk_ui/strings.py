"""Every text the kiosk shows, in German (the default) and English.

``text(key, language, **values)`` looks a string up; a missing key is a bug the tests catch
(``test_catalogue_complete``), so lookups never fall back silently to another language.
"""

from __future__ import annotations

CATALOGUE: dict[str, dict[str, str]] = {
    "de": {
        "attract.title": "Willkommen",
        "attract.lead": "Persönliche Beratung per Video – jetzt, ohne Termin.",
        "attract.start": "Beratung starten",
        "language.title": "Sprache wählen",
        "consent.title": "Datenschutz",
        "consent.accept": "Einverstanden",
        "consent.decline": "Ablehnen",
        "intake.title": "Worum geht es?",
        "intake.submit": "Beraterin oder Berater rufen",
        "intake.required": "Pflichtfeld",
        "waiting.title": "Einen Moment bitte",
        "waiting.position": "Sie sind an Position {position}.",
        "waiting.estimate": "Geschätzte Wartezeit: etwa {minutes} Minuten",
        "waiting.unknown": "Wir suchen eine freie Beraterin oder einen freien Berater.",
        "waiting.cancel": "Abbrechen",
        "call.connecting": "Verbindung wird aufgebaut …",
        "call.mute": "Stumm",
        "call.unmute": "Ton an",
        "call.camera_off": "Kamera aus",
        "call.camera_on": "Kamera an",
        "call.chat": "Chat",
        "call.end": "Beenden",
        "call.send": "Senden",
        "call.document": "Neues Dokument",
        "call.open": "Öffnen",
        "call.close": "Schließen",
        "call.page": "Seite {page} von {pages}",
        "call.unreadable": "Dieses Dokument kann hier nicht angezeigt werden.",
        "call.screen_share": "Ihre Beratung zeigt Ihnen ihren Bildschirm",
        "call.reconnecting": "Verbindung unterbrochen – wird wiederhergestellt …",
        "scan.title": "Dokument scannen",
        "scan.asked": (
            "Ihre Beratung bittet um den Scan eines Dokuments. Legen Sie es auf den Scanner "
            "und tippen Sie auf „Scannen“."
        ),
        "scan.start": "Scannen",
        "scan.running": "Das Dokument wird gescannt … {percent} %",
        "scan.confirm": "Diese Seiten senden?",
        "scan.again": "Neu scannen",
        "scan.failed": "Das Scannen hat leider nicht geklappt.",
        "photo.title": "Foto",
        "photo.asked": (
            "Ihre Beratung bittet um ein Foto. Schauen Sie in die Kamera und tippen Sie auf "
            "„Start“."
        ),
        "photo.start": "Start",
        "photo.confirm": "Dieses Foto senden?",
        "photo.again": "Neu aufnehmen",
        "photo.failed": "Das Foto hat leider nicht geklappt.",
        "request.not_now": "Jetzt nicht",
        "request.send": "Senden",
        "request.dont_send": "Nicht senden",
        "request.sending": "Wird gesendet … {percent} %",
        "request.pages": "{pages} Seiten",
        "request.one_page": "1 Seite",
        "request.ok": "OK",
        "transfer.in": "Eine Datei wird empfangen … {percent} %",
        "transfer.out": "Eine Datei wird gesendet … {percent} %",
        "transfer.many": "{count} Dateien unterwegs … {percent} %",
        "call.code": "Sicherheitscode",
        "call.code_hint": "Ihre Beratung liest ihn vor. Er muss genau übereinstimmen.",
        "signature.title": "Bitte unterschreiben",
        "signature.hint": "Unterschreiben Sie mit dem Stift auf dem Tablett.",
        "signature.clear": "Löschen",
        "signature.confirm": "Unterschreiben",
        "signature.decline": "Nicht unterschreiben",
        "signature.read": "Weiter zur Unterschrift",
        "signature.reading": (
            "Bitte lesen Sie das Dokument. Die Unterschrift kommt auf Seite {page}."
        ),
        "signature.loading": "Das Dokument wird geladen …",
        "signature.consent": (
            "Mit Ihrer Unterschrift auf dem Tablett zeichnen wir auch auf, wie Sie schreiben: "
            "Schreibrichtung, Pausen, Geschwindigkeit, Druck und Zeitpunkte. Das Gesetz "
            "behandelt diese Schreibdynamik als biometrische Daten.\n\n"
            "Sie dient nur dazu, diesen Vertrag abzuschließen und Ihre Unterschrift später "
            "beweisen zu können. Sie wird verschlüsselt mit dem unterschriebenen Dokument "
            "verbunden; öffnen kann sie nur der Treuhänder {trustee}, nicht die Bank und nicht "
            "dieses Terminal.\n\n"
            "Mit dem Unterschreiben willigen Sie ein. Sie können ablehnen: Dann wird nichts "
            "aufgezeichnet."
        ),
        "signature.trustee_unknown": "der Bank",
        "signature.tablet_gone": (
            "Das Tablett antwortet nicht. Bitte Beraterin oder Berater fragen."
        ),
        "signature.too_long": "Die Unterschrift war zu lang. Bitte löschen und neu unterschreiben.",
        "signature.no_ink": "Es ist noch keine Unterschrift zu sehen. Bitte unterschreiben.",
        "signature.sealing": "Ihre Unterschrift wird versiegelt und das Dokument signiert …",
        "signature.done": "Das Dokument ist unterschrieben.",
        "signature.declined": "Sie haben nicht unterschrieben. Es wurde nichts aufgezeichnet.",
        "signature.failed": (
            "Die Unterschrift hat nicht geklappt. Ihre Beraterin oder Ihr Berater weiß Bescheid."
        ),
        "signature.cancelled": "Die Beraterin oder der Berater hat die Unterschrift abgebrochen.",
        "signature.ok": "OK",
        "goodbye.title": "Vielen Dank und auf Wiedersehen",
        "goodbye.wiping": "Ihre Daten werden gelöscht …",
        "goodbye.wiped": "Ihre Daten wurden gelöscht und die Löschung geprüft.",
        "goodbye.details": "{files} Dateien, {size} – Verfahren: {method}",
        "goodbye.done": "Fertig",
        "goodbye.reference": "Ihre Gesprächsreferenz: {reference}",
        "goodbye.reference_hint": (
            "Mit dieser Referenz beantwortet unsere Datenschutzbeauftragte oder unser "
            "Datenschutzbeauftragter Ihre Fragen zu den Daten dieses Gesprächs."
        ),
        "goodbye.unverified": (
            "Die Verbindung konnte nicht überprüft werden und wurde zu Ihrem Schutz beendet."
        ),
        "reconnecting.title": "Verbindung unterbrochen",
        "reconnecting.lead": "Wir verbinden Sie gleich wieder. Bitte warten Sie.",
        "oos.title": "Außer Betrieb",
        "oos.lead": (
            "Dieses Terminal ist gerade nicht verfügbar. Bitte wenden Sie sich an das Personal."
        ),
        "countdown": "Sind Sie noch da? Ende in {seconds} s",
        "still_here": "Ich bin noch da",
        "cancel": "Abbrechen",
        "large_text": "Große Schrift",
        "kb.space": "Leerzeichen",
        "tech.title": "Terminal einrichten",
        "tech.key": "Geräteschlüssel (SHA-256)",
        "tech.ca": "Fingerabdruck des Hubs (SHA-256)",
        "tech.hub": "Adresse des Hubs",
        "tech.code": "Registrierungscode",
        "tech.check": "Hub prüfen",
        "tech.hint": (
            "Geben Sie die Adresse des Hubs und den Registrierungscode vom Ausdruck ein."
        ),
        "tech.preset": "Hub, Code und Fingerabdruck stammen aus dem QR-Code.",
        "tech.edit": "Von Hand eingeben",
        "tech.checking": "Der Hub wird nach seinem Zertifikat gefragt …",
        "tech.compare.title": "Fingerabdruck vergleichen",
        "tech.compare.lead": (
            "Das Zertifikat des Hubs hat diesen Fingerabdruck. Stimmt er mit dem auf dem "
            "Ausdruck des Codes überein? Erst dann wird der Code gesendet."
        ),
        "tech.compare.yes": "Stimmt: registrieren",
        "tech.compare.no": "Stimmt nicht",
        "tech.enrolling": "Das Terminal wird registriert …",
        "tech.selftest.running": "Der Selbsttest läuft …",
        "tech.enrolled": "Registriert als {device} ({tenant})",
        "tech.selftest.passed": "Selbsttest: alle {count} Geräte funktionieren.",
        "tech.selftest.failed": "Selbsttest: {failed} von {count} Geräten funktionieren nicht.",
        "tech.selftest.none": "Selbsttest: keine Geräte konfiguriert.",
        "tech.selftest.again": "Erneut testen",
        "tech.start": "Terminal starten",
        "tech.starting": "Das Terminal startet …",
        "tech.blocked.title": "Identität nicht nutzbar",
        "tech.check_again": "Erneut prüfen",
        "tech.error.hub_url": (
            "Die Adresse des Hubs ist ungültig: https://name (oder nur der Name) eingeben."
        ),
        "tech.error.insecure": "Im Betrieb muss die Adresse des Hubs mit https:// beginnen.",
        "tech.error.code_char": (
            "Zeichen {position} des Codes kommt in Codes nicht vor: bitte den Code prüfen."
        ),
        "tech.error.code_lookalike": (
            "Zeichen {position} ist {char}, das Codes nie enthalten (kein 0/O, 1/I/L oder U): "
            "bitte den Code prüfen."
        ),
        "tech.error.code_length": (
            "Ein Code hat 16 Zeichen (Striche und Leerzeichen zählen nicht), dieser {count}."
        ),
        "tech.error.code_unknown": (
            "Der Hub kennt diesen Code nicht: unbekannt, abgelaufen, schon benutzt oder nach "
            "falschen Versuchen gesperrt. Bitte einen neuen Code anfordern."
        ),
        "tech.error.code_wrong": (
            "Der Hub hat den Code abgelehnt: bitte prüfen, ob er richtig eingegeben ist. Nach "
            "5 Fehlversuchen ist er gesperrt."
        ),
        "tech.error.throttled": "Zu viele Versuche von hier: bitte {seconds} s warten.",
        "tech.error.throttled_later": "Zu viele Versuche von hier: bitte später erneut versuchen.",
        "tech.error.unreachable": (
            "Der Hub ist nicht erreichbar: Adresse und Netzwerk prüfen, dann erneut versuchen."
        ),
        "tech.error.ca_mismatch": (
            "Das Zertifikat des Hubs ist nicht das aus dem QR-Code: Der Code wurde NICHT "
            "gesendet. Adresse des Hubs und Netzwerk prüfen (ein Proxy dazwischen?)."
        ),
        "tech.error.ca_rejected": (
            "Der Fingerabdruck wurde nicht bestätigt: Der Code wurde NICHT gesendet. Adresse "
            "des Hubs prüfen."
        ),
        "tech.error.refused": "Der Hub hat die Anfrage abgelehnt.",
        "tech.error.identity": (
            "Das Identitätsverzeichnis dieses Terminals ist nicht nutzbar. Auf dem Gerät "
            "`kiosk decommission` ausführen, dann mit einem neuen Code registrieren."
        ),
        "tech.reason.fresh_code": (
            "Der Hub hat das Zertifikat dieses Terminals abgelehnt (abgelaufen oder gesperrt): "
            "Dieses Terminal braucht einen neuen Registrierungscode."
        ),
    },
    "en": {
        "attract.title": "Welcome",
        "attract.lead": "Personal advice by video – right now, no appointment needed.",
        "attract.start": "Start a consultation",
        "language.title": "Choose your language",
        "consent.title": "Privacy",
        "consent.accept": "I agree",
        "consent.decline": "Decline",
        "intake.title": "What is it about?",
        "intake.submit": "Call an adviser",
        "intake.required": "required",
        "waiting.title": "One moment please",
        "waiting.position": "You are number {position} in the queue.",
        "waiting.estimate": "Estimated wait: about {minutes} minutes",
        "waiting.unknown": "We are finding an available adviser.",
        "waiting.cancel": "Cancel",
        "call.connecting": "Connecting …",
        "call.mute": "Mute",
        "call.unmute": "Unmute",
        "call.camera_off": "Camera off",
        "call.camera_on": "Camera on",
        "call.chat": "Chat",
        "call.end": "End",
        "call.send": "Send",
        "call.document": "New document",
        "call.open": "Open",
        "call.close": "Close",
        "call.page": "Page {page} of {pages}",
        "call.unreadable": "This document cannot be shown here.",
        "call.screen_share": "Your adviser is sharing their screen",
        "call.reconnecting": "Connection lost — reconnecting …",
        "scan.title": "Scan a document",
        "scan.asked": (
            "Your adviser asks for a scan of a document. Place it on the scanner and press Scan."
        ),
        "scan.start": "Scan",
        "scan.running": "Scanning the document … {percent} %",
        "scan.confirm": "Send these pages?",
        "scan.again": "Scan again",
        "scan.failed": "Sorry, the scan did not work.",
        "photo.title": "Photo",
        "photo.asked": "Your adviser asks for a photo. Look into the camera and press Start.",
        "photo.start": "Start",
        "photo.confirm": "Send this photo?",
        "photo.again": "Retake",
        "photo.failed": "Sorry, the photo did not work.",
        "request.not_now": "Not now",
        "request.send": "Send",
        "request.dont_send": "Don't send",
        "request.sending": "Sending … {percent} %",
        "request.pages": "{pages} pages",
        "request.one_page": "1 page",
        "request.ok": "OK",
        "transfer.in": "Receiving a file … {percent} %",
        "transfer.out": "Sending a file … {percent} %",
        "transfer.many": "{count} files on their way … {percent} %",
        "call.code": "Security code",
        "call.code_hint": "Your adviser reads it out. It must match exactly.",
        "signature.title": "Please sign",
        "signature.hint": "Sign with the pen on the tablet.",
        "signature.clear": "Clear",
        "signature.confirm": "Sign",
        "signature.decline": "Do not sign",
        "signature.read": "Continue to sign",
        "signature.reading": "Please read the document. The signature goes on page {page}.",
        "signature.loading": "The document is loading …",
        "signature.consent": (
            "When you sign on the tablet we also record how you write: the direction, pauses, "
            "speed, pressure and timestamps of your writing. The law treats these writing "
            "dynamics as biometric data.\n\n"
            "They serve only to conclude this contract and to prove your signature later. "
            "They are sealed to the signed document; only the trustee {trustee} can ever open "
            "them, not the bank and not this terminal.\n\n"
            "Signing is your consent. You may decline: then nothing is recorded."
        ),
        "signature.trustee_unknown": "named by the bank",
        "signature.tablet_gone": "The tablet does not respond. Please ask your adviser.",
        "signature.too_long": "The signature was too long. Please clear it and sign again.",
        "signature.no_ink": "There is no signature yet. Please sign.",
        "signature.sealing": "Your signature is being sealed and the document signed …",
        "signature.done": "The document is signed.",
        "signature.declined": "You did not sign. Nothing was recorded.",
        "signature.failed": "The signature did not work. Your adviser has been told.",
        "signature.cancelled": "Your adviser cancelled the signature.",
        "signature.ok": "OK",
        "goodbye.title": "Thank you and goodbye",
        "goodbye.wiping": "Deleting your data …",
        "goodbye.wiped": "Your data has been deleted and the deletion verified.",
        "goodbye.details": "{files} files, {size} – method: {method}",
        "goodbye.done": "Done",
        "goodbye.reference": "Your conversation reference: {reference}",
        "goodbye.reference_hint": (
            "With this reference our data-protection officer can answer your questions "
            "about the data of this conversation."
        ),
        "goodbye.unverified": (
            "The connection could not be verified and was ended for your protection."
        ),
        "reconnecting.title": "Connection interrupted",
        "reconnecting.lead": "We are reconnecting you. Please wait.",
        "oos.title": "Out of service",
        "oos.lead": "This terminal is not available right now. Please ask a member of staff.",
        "countdown": "Are you still there? Ending in {seconds} s",
        "still_here": "I am still here",
        "cancel": "Cancel",
        "large_text": "Large text",
        "kb.space": "Space",
        "tech.title": "Set up this kiosk",
        "tech.key": "Device key (SHA-256)",
        "tech.ca": "The hub's fingerprint (SHA-256)",
        "tech.hub": "Hub address",
        "tech.code": "Enrolment code",
        "tech.check": "Check the hub",
        "tech.hint": "Enter the hub's address and the enrolment code from the print-out.",
        "tech.preset": "Hub, code and fingerprint come from the QR code.",
        "tech.edit": "Enter by hand",
        "tech.checking": "Asking the hub for its certificate …",
        "tech.compare.title": "Compare the fingerprint",
        "tech.compare.lead": (
            "The hub's certificate has this fingerprint. Does it match the one on the code's "
            "print-out? Only then is the code sent."
        ),
        "tech.compare.yes": "It matches: enrol",
        "tech.compare.no": "It does not match",
        "tech.enrolling": "Enrolling this kiosk …",
        "tech.selftest.running": "Running the self-test …",
        "tech.enrolled": "Enrolled as {device} ({tenant})",
        "tech.selftest.passed": "Self-test: all {count} devices work.",
        "tech.selftest.failed": "Self-test: {failed} of {count} devices do not work.",
        "tech.selftest.none": "Self-test: no devices configured.",
        "tech.selftest.again": "Test again",
        "tech.start": "Start the kiosk",
        "tech.starting": "Starting the kiosk …",
        "tech.blocked.title": "Identity cannot be used",
        "tech.check_again": "Check again",
        "tech.error.hub_url": (
            "The hub address is not valid: enter https://name (or just the name)."
        ),
        "tech.error.insecure": "In production the hub address must start with https://.",
        "tech.error.code_char": (
            "Character {position} of the code is not one that codes use: check the code."
        ),
        "tech.error.code_lookalike": (
            "Character {position} is {char}, which codes never use (no 0/O, 1/I/L or U): "
            "check the code."
        ),
        "tech.error.code_length": (
            "A code has 16 characters (dashes and spaces do not count); this one has {count}."
        ),
        "tech.error.code_unknown": (
            "The hub does not know this code: unknown, expired, already used, or burnt after "
            "wrong tries. Ask for a fresh code."
        ),
        "tech.error.code_wrong": (
            "The hub refused the code: check it was typed right. After 5 wrong tries it is burnt."
        ),
        "tech.error.throttled": "Too many attempts from here: wait {seconds} s.",
        "tech.error.throttled_later": "Too many attempts from here: try again later.",
        "tech.error.unreachable": (
            "The hub cannot be reached: check the address and the network, then try again."
        ),
        "tech.error.ca_mismatch": (
            "The hub's certificate is not the one in the QR code: the code was NOT sent. "
            "Check the hub address and the network (a proxy in between?)."
        ),
        "tech.error.ca_rejected": (
            "The fingerprint was not confirmed: the code was NOT sent. Check the hub address."
        ),
        "tech.error.refused": "The hub refused the request.",
        "tech.error.identity": (
            "This kiosk's identity directory cannot be used. On the device, run "
            "`kiosk decommission`, then enrol with a fresh code."
        ),
        "tech.reason.fresh_code": (
            "The hub refused this kiosk's certificate (expired or revoked): this kiosk needs a "
            "fresh enrolment code."
        ),
    },
}

LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}

# Our template privacy notice; a tenant replaces it with its own text in the configuration.
CONSENT_TEMPLATE = {
    "de": (
        "Bevor wir Sie verbinden, möchten wir Ihnen erklären, was mit Ihren Angaben geschieht.\n\n"
        "Bild und Ton des Gesprächs laufen verschlüsselt direkt zwischen diesem Terminal und "
        "Ihrer Beraterin oder Ihrem Berater. Unser Vermittlungsserver stellt nur die Verbindung "
        "her und kann weder Bild, Ton, Chat noch Dokumente einsehen.\n\n"
        "Ihren Namen und Ihr Anliegen verwenden wir ausschließlich für dieses eine Gespräch.\n\n"
        "Alles, was dieses Terminal während des Gesprächs von Ihnen erhält – Eingaben, Chat, "
        "Scans, Fotos und Dokumente – liegt nur verschlüsselt im Arbeitsspeicher und wird am "
        "Ende des Gesprächs gelöscht. Die Löschung wird geprüft und Ihnen angezeigt.\n\n"
        "Eine Unterschrift auf dem Tablett enthält auch die Schreibbewegung. Diese wird nur "
        "verschlüsselt und fest mit dem unterschriebenen Dokument verbunden weitergegeben.\n\n"
        "Protokolle enthalten keine Inhalte des Gesprächs. Sie können Ihre Einwilligung "
        "jederzeit widerrufen, indem Sie das Gespräch beenden.\n\n"
        "Wenn Sie ablehnen, wird nichts gespeichert und nichts übertragen."
    ),
    "en": (
        "Before we connect you, here is what happens with your details.\n\n"
        "Picture and sound of the conversation travel encrypted directly between this terminal "
        "and your adviser. Our connection server only sets the call up and cannot see the "
        "picture, sound, chat or documents.\n\n"
        "We use your name and your topic for this one conversation only.\n\n"
        "Everything this terminal receives from you during the conversation – entries, chat, "
        "scans, photos and documents – is held encrypted in memory only and is deleted when the "
        "conversation ends. The deletion is checked and shown to you.\n\n"
        "A signature on the tablet also records how you write it. It is passed on only "
        "encrypted and firmly bound to the signed document.\n\n"
        "Logs hold no content of the conversation. You can withdraw your consent at any time "
        "by ending the conversation.\n\n"
        "If you decline, nothing is stored and nothing is sent."
    ),
}

# On-screen keyboard rows per language; the German one carries umlauts and ß.
KEYBOARD_ROWS = {
    "de": ("1234567890ß", "qwertzuiopü", "asdfghjklöä", "yxcvbnm,.-@"),
    "en": ("1234567890-", "qwertyuiop'", "asdfghjkl@", "zxcvbnm,.äöü"),
}
# The technician screen's keys: what hub addresses and enrolment codes are made of.
TECHNICIAN_KEYBOARD_ROWS = {
    "de": ("1234567890", "qwertzuiop", "asdfghjkl:", "yxcvbnm./-"),
    "en": ("1234567890", "qwertyuiop", "asdfghjkl:", "zxcvbnm./-"),
}


def text(key: str, language: str, **values: object) -> str:
    """The string ``key`` in ``language``, with ``{placeholders}`` filled in."""
    template = CATALOGUE[language][key]
    return template.format(**values) if values else template


def human_size(size: int, language: str) -> str:
    """Bytes as a short human number (``1,2 MB`` in German, ``1.2 MB`` in English)."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            shown = f"{value:.0f}" if unit == "B" else f"{value:.1f}"
            return (shown.replace(".", ",") if language == "de" else shown) + " " + unit
        value /= 1024
    raise AssertionError("unreachable")
