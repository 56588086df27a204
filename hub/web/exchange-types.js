// Types of the exchange panel (exchange.js and its exchange-*.js parts): JSDoc only, no code.
// The channel messages are as protocol.js hands them over after validation against
// protocol.schema.json (an absent optional field is absent, not null).

/** @typedef {"file" | "document" | "scan" | "photo" | "signed"} FilePurpose */
/** @typedef {"scan" | "photo"} RequestKind */

/**
 * @typedef {object} FileOffer
 * @property {"file_offer"} type
 * @property {string} id
 * @property {string} name
 * @property {number} size
 * @property {string} mime
 * @property {string} sha256
 * @property {FilePurpose} purpose
 * @property {string | null} [request_id]
 * @property {string} blob
 * @property {string} key
 */

/**
 * @typedef {object} FileProgress
 * @property {"file_progress"} type
 * @property {string} id
 * @property {number} bytes
 * @property {number} size
 */

/**
 * @typedef {object} FileDone
 * @property {"file_done"} type
 * @property {string} id
 * @property {string} sha256
 */

/**
 * @typedef {object} FileError
 * @property {"file_error"} type
 * @property {string} id
 * @property {string} code
 */

/**
 * @typedef {object} FileCancel
 * @property {"file_cancel"} type
 * @property {string} id
 * @property {"cancelled" | "session_ending" | "failed"} [reason]
 */

/**
 * @typedef {object} RequestStatus
 * @property {"request_status"} type
 * @property {string} id
 * @property {RequestKind} kind
 * @property {"asked" | "scanning" | "countdown" | "confirming" | "sending" | "declined" | "failed" | "cancelled"} state
 * @property {number} [progress]
 * @property {number} [pages]
 * @property {string | null} [code]
 */

/**
 * @typedef {object} SignatureStatus
 * @property {"signature_status"} type
 * @property {string} id
 * @property {"reading" | "signing" | "sealing" | "done" | "declined" | "failed" | "cancelled"}
 *   state
 * @property {string | null} [code]
 */

/**
 * @typedef {object} SignatureRequest
 * @property {"signature_request"} type
 * @property {string} id
 * @property {string} document transfer id of a PDF of this call
 * @property {string} sha256
 * @property {string | null} field
 * @property {number | null} page
 * @property {[number, number, number, number] | null} box
 * @property {string | null} signer
 */

/**
 * @typedef {FileOffer | FileProgress | FileDone | FileError | FileCancel | RequestStatus
 *   | SignatureStatus} IncomingMessage
 */

/**
 * What the adviser's side sends on the data channel for the exchange.
 * @typedef {FileOffer | FileProgress | FileDone | FileError | FileCancel
 *   | {type: "scan_request" | "photo_request" | "request_cancel" | "signature_cancel", id: string}
 *   | SignatureRequest
 *   | {type: "screen_share", active: boolean}} OutgoingMessage
 */

/** @typedef {"sealing" | "uploading" | "offered" | "done" | "failed" | "cancelled"} OutgoingState */
/** @typedef {"announced" | "downloading" | "done" | "failed" | "cancelled"} IncomingState */
/** @typedef {RequestStatus["state"] | "received"} RequestState */

/**
 * A file the adviser sends.
 * @typedef {object} OutgoingTransfer
 * @property {string} id
 * @property {string} name
 * @property {number} size
 * @property {string} mime
 * @property {FilePurpose} purpose
 * @property {OutgoingState} state
 * @property {number} done plaintext bytes sealed or uploaded so far
 * @property {string | null} sha256
 * @property {string | null} blob the relay's id once uploaded, until deleted
 * @property {string | null} error plain words when failed or cancelled
 */

/**
 * A file the kiosk sends (announced by file_progress, then offered).
 * @typedef {object} IncomingTransfer
 * @property {string} id
 * @property {string} name
 * @property {number} size
 * @property {number} done
 * @property {IncomingState} state
 * @property {FileOffer | null} offer
 * @property {FilePurpose} [purpose] known once offered
 * @property {string | null} requestId the scan or photo request it answers
 * @property {string | null} mime the sniffed type once received
 * @property {string | null} sha256
 * @property {string | null} code the file_error code when refused
 * @property {string | null} error plain words when refused
 */

/**
 * A scan or photo request.
 * @typedef {object} ExchangeRequest
 * @property {string} id
 * @property {RequestKind} kind
 * @property {RequestState} state
 * @property {number} progress percent
 * @property {number} pages
 * @property {string | null} code
 */

/**
 * The call the exchange serves (call.js's Consultation): its events "exchange" {message},
 * "chat-ready" {ready} and "verified" {resumed} drive the exchange.
 * @typedef {EventTarget & {
 *   readonly id: string,
 *   readonly chatReady: boolean,
 *   readonly screenShareReady: boolean,
 *   sendChannel(message: OutgoingMessage): boolean,
 *   setScreenTrack(track: MediaStreamTrack | null): Promise<unknown>,
 * }} ExchangeCall
 */

/**
 * What the file sender and receiver use of the exchange that owns them (exchange.js).
 * @typedef {object} ExchangeLink
 * @property {import("./exchange-state.js").Transfers} transfers
 * @property {import("./exchange-relay.js").RelayClient} relay
 * @property {import("./exchange-view.js").ExchangeView} view
 * @property {() => ExchangeCall | null} call the call being served, if any
 * @property {() => number} maxFileBytes the tenant's limit for one file
 * @property {(message: OutgoingMessage) => boolean} sendNow false if the channel is down
 * @property {(message: OutgoingMessage) => void} sendReliably held until the channel is back
 * @property {import("./signature-request.js").Signatures} signatures PDFs to sign, signed PDFs
 */

/**
 * The exchange panel's elements (index.html); the view checks each one's kind.
 * @typedef {object} ExchangeElements
 * @property {HTMLElement} panel
 * @property {HTMLElement} fileInput an <input type=file>
 * @property {HTMLElement | null} [fileLabel]
 * @property {HTMLElement} showAtKiosk an <input type=checkbox>
 * @property {HTMLElement} dropZone
 * @property {HTMLElement} error
 * @property {HTMLElement} sent
 * @property {HTMLElement} received
 * @property {HTMLElement} requests
 * @property {HTMLElement} requestScan a <button>
 * @property {HTMLElement} requestPhoto a <button>
 * @property {HTMLElement} shareScreen a <button>
 * @property {HTMLElement} screenState
 */

export {};
