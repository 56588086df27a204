// Types shared by the console's modules: JSDoc only, no code. Messages are as protocol.js hands
// them over after validation against protocol.schema.json (an absent optional field is absent,
// not null); the exchange's own messages are in exchange-types.js.

// -- the hub's HTTP API (api.js) ------------------------------------------------------------

/**
 * A signed-in session, as /api/login and /api/session answer.
 * @typedef {object} Session
 * @property {string} adviser the adviser's display name
 * @property {string} tenant
 * @property {string} csrf the session's CSRF token
 * @property {"adviser" | "admin" | "dpo"} [role] the account's role (docs/admin.md)
 */

// -- signalling: the WebSocket to the hub (signalling.js) -----------------------------------

/** @typedef {"hangup" | "customer_left" | "peer_gone" | "failed" | "timeout"} EndReason */

/**
 * @typedef {"malformed" | "too_large" | "unsupported_version" | "unknown_type" | "unknown_field"
 *   | "missing_field" | "wrong_type" | "invalid_value" | "protocol_error" | "unauthorized"
 *   | "forbidden" | "not_found" | "conflict" | "rate_limited" | "internal"} ErrorCode
 */

/**
 * An ICE server of the tenant, as the welcome lists it.
 * @typedef {object} IceServer
 * @property {string[]} urls
 * @property {string | null} [username]
 * @property {string | null} [credential]
 */

/**
 * @typedef {object} Welcome
 * @property {"welcome"} type
 * @property {"kiosk" | "adviser"} role
 * @property {string} name
 * @property {string} tenant
 * @property {number} heartbeat_s
 * @property {IceServer[]} ice_servers
 * @property {"all" | "relay"} [ice_transport_policy]
 * @property {number} [grace_s]
 * @property {number} [max_file_bytes]
 */

/**
 * One waiting kiosk in the adviser's queue.
 * @typedef {object} QueueEntry
 * @property {string} consultation_id
 * @property {string} device
 * @property {number} position
 * @property {number} waiting_s
 */

/** @typedef {{type: "queue", entries: QueueEntry[]}} QueueMessage */
/** @typedef {{type: "accepted", consultation_id: string, peer: string}} Accepted */
/** @typedef {{type: "offer", consultation_id: string, sdp: string}} Offer */
/** @typedef {{type: "ended", consultation_id: string, reason: EndReason}} Ended */
/** @typedef {{type: "resume_grant", consultation_id: string, token: string}} ResumeGrant */
/**
 * @typedef {{type: "resumed", consultation_id: string, peer: string,
 *   peer_present: boolean}} Resumed
 */
/** @typedef {{type: "peer_away", consultation_id: string}} PeerAway */
/** @typedef {{type: "peer_back", consultation_id: string}} PeerBack */
/** @typedef {{type: "heartbeat", ts: number}} Heartbeat */
/** @typedef {{type: "error", code: ErrorCode, message: string, fatal?: boolean}} HubError */

/**
 * A trickled candidate either way; "" as candidate: the end of candidates.
 * @typedef {object} IceCandidateMessage
 * @property {"ice_candidate"} type
 * @property {string} consultation_id
 * @property {string} candidate
 * @property {string | null} [sdp_mid]
 * @property {number | null} [sdp_mline_index]
 */

/**
 * What the hub may send an adviser (and the kiosk-only kinds the schema allows: ignored).
 * @typedef {Welcome | QueueMessage | Accepted | Offer | IceCandidateMessage | Ended | ResumeGrant
 *   | Resumed | PeerAway | PeerBack | Heartbeat | HubError
 *   | {type: "queue_position", consultation_id: string, position: number, waiting: number}
 *   | {type: "reference", consultation_id: string, reference: string}
 *   | {type: "status", state: "ready" | "out_of_service", reason?: string | null}
 * } HubMessage
 */

/**
 * What the console sends the hub.
 * @typedef {{type: "hello", role: "adviser", csrf: string | null, client: string}
 *   | {type: "accept", consultation_id: string}
 *   | {type: "answer", consultation_id: string, sdp: string}
 *   | {type: "end", consultation_id: string, reason: EndReason}
 *   | {type: "sas_commit", consultation_id: string, commitment: string}
 *   | {type: "resume", consultation_id: string, token: string}
 *   | Heartbeat | IceCandidateMessage
 *   | {type: "error", code: string, message: string}
 * } ConsoleMessage
 */

// -- the data channel of a call (call.js) ---------------------------------------------------

/** @typedef {{type: "sas_reveal", fingerprint: string, nonce?: string | null}} SasReveal */
/** @typedef {{type: "resume_proof", fingerprint: string, mac: string}} ResumeProof */
/**
 * @typedef {{type: "device_proof", certificate: string, signature: string, fingerprint: string,
 *   commitment: string}} DeviceProof
 */
/** @typedef {{type: "continuity", secret: string}} Continuity */
/** @typedef {{type: "beat", ts: number}} Beat */
/** @typedef {{type: "bye"}} Bye */
/** @typedef {{type: "chat", id: string, text: string, ts: number}} Chat */
/**
 * @typedef {{type: "history_chat", id: string, text: string, ts: number,
 *   author: "kiosk" | "adviser"}} HistoryChat
 */
/** @typedef {{key: string, value: string}} IntakeField */
/** @typedef {{type: "intake", fields: IntakeField[]}} Intake */

/**
 * The channel messages of the call itself (call-*.js).
 * @typedef {SasReveal | ResumeProof | DeviceProof | Continuity | Beat | Bye | Chat
 *   | HistoryChat | Intake} CallMessage
 */

/**
 * Every channel message: the call's own, and the exchange's (files, scans, photos, screen).
 * @typedef {CallMessage | import("./exchange-types.js").IncomingMessage
 *   | import("./exchange-types.js").OutgoingMessage} ChannelMessage
 */

// -- a call (call.js, resume.js) ------------------------------------------------------------

/**
 * What a reloaded tab needs to get back into its call (resume.js stores it).
 * @typedef {object} ResumeRecord
 * @property {string} consultation_id
 * @property {string} token the hub's single-use resume token
 * @property {string} secret the continuity secret, 64 hex digits
 * @property {string} code the four words read out on the first leg
 * @property {string} peer the kiosk's name as the hub gives it (accepted, resumed)
 */

/**
 * The events of a Consultation (call.js) and their details: "chat" lines come from "customer"
 * or "you" (history lines after a resume carry both; merged by id, never twice); "intake" is
 * the customer's form, end to end (shown, never stored); "chat-ready": the channel is open and
 * verified for sending; "failed": the call must end; "bye": the kiosk ended it on purpose;
 * "verified": the four words to read out (a resumed leg keeps the original); "unverified":
 * why, and the call must end; "resume-state": token, secret or code changed (persist
 * snapshot()); "exchange": every other channel message (files, scans, photos, screen).
 * @typedef {{
 *   "state": {state: string, words: string},
 *   "remote-stream": {stream: MediaStream},
 *   "chat": {message: Chat | HistoryChat, from: "customer" | "you"},
 *   "intake": {fields: IntakeField[]},
 *   "chat-ready": {ready: boolean},
 *   "problem": {text: string},
 *   "failed": {},
 *   "bye": {},
 *   "verified": {code: string | null, resumed: boolean},
 *   "unverified": {code: string},
 *   "device": {state: "pending" | "verified" | "warning", text: string},
 *   "reconnecting": {words: string},
 *   "resume-state": {},
 *   "exchange": {message: ChannelMessage},
 * }} ConsultationEvents
 */

/**
 * The options of a Consultation (call.js).
 * @typedef {object} ConsultationOptions
 * @property {string} consultationId
 * @property {string} peer
 * @property {IceServer[]} iceServers
 * @property {string} iceTransportPolicy "relay": only through the tenant's TURN server
 * @property {Promise<MediaStream | null> | MediaStream | null} localMedia the adviser's camera
 *   and microphone; a promise, so the call exists, and the offer is caught, while the browser
 *   still asks for them
 * @property {import("./protocol.js").Protocol} protocol
 * @property {(message: ConsoleMessage) => void} send to the hub
 * @property {Promise<string[]> | string[]} words the 256 code words (verification.js loadWords)
 * @property {number} [graceS]
 * @property {ResumeRecord | null} [restore] a call this tab held before a reload: no
 *   commitment, the next offer is answered and proven with resume_proof
 * @property {DeviceTrust | null} [trust] the pinned tenant CA for the kiosk's device proof
 *   (tenant-anchor.js); null: every device is shown "not verified"
 */

/**
 * Where a call gets the tenant CA to check device proofs with (tenant-anchor.js TenantTrust).
 * @typedef {object} DeviceTrust
 * @property {() => import("./device-proof.js").TenantAnchor | null} current
 * @property {() => string} whyNot why current() is null, in one word
 * @property {() => Promise<unknown>} settled resolves once the CA is loaded (or failed to)
 */

/**
 * A live call's state for resume.js (any part may still be missing).
 * @typedef {object} CallSnapshot
 * @property {string} consultation_id
 * @property {string | null} token
 * @property {string | null} secret
 * @property {string | null} code
 * @property {string} peer
 */

export {};
