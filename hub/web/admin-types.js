// Types of the administration API's answers (docs/admin.md, "HTTP API"): JSDoc only, no code.
// Times are seconds since the epoch, as the hub stores them.

/** @typedef {"adviser" | "admin" | "dpo"} Role */

/**
 * @typedef {object} Overview
 * @property {string} tenant
 * @property {string} name
 * @property {Role} role
 * @property {{devices: number}} alarms
 */

/**
 * @typedef {object} Account
 * @property {string} name
 * @property {Role} role
 * @property {boolean} disabled
 * @property {boolean} online
 * @property {number} created_at
 */

/** @typedef {{ok: boolean, at: number}} LastReport */

/**
 * One kiosk of the fleet.
 * @typedef {object} DeviceRow
 * @property {string} name
 * @property {string} state enrolled, expired, pending, revoked or active
 * @property {string | null} branch
 * @property {number | null} last_seen
 * @property {number | null} cert_not_after
 * @property {string | null} version
 * @property {LastReport | null} last_selftest
 * @property {LastReport | null} last_wipe
 * @property {number} wipes_failed
 * @property {number} wipes_missing
 */

/** @typedef {{at: number, ok: boolean, summary: Record<string, unknown>}} WipeReport */

/** @typedef {{code: string, uri: string, expires_at: number}} EnrolCode */

/**
 * @typedef {object} RetentionAnswer
 * @property {Record<string, number>} settings
 * @property {Record<string, [number, number]>} [limits]
 * @property {Record<string, number>} [defaults]
 */

/**
 * @typedef {object} Percentiles
 * @property {number | null} consultations
 * @property {number | null} abandoned
 * @property {number | null} wait_p50_s
 * @property {number | null} wait_p90_s
 * @property {number | null} duration_p50_s
 * @property {number | null} duration_p90_s
 */

/**
 * The statistics of a date range; a null count is a suppressed cell (fewer than min_cell).
 * @typedef {object} Figures
 * @property {string} from
 * @property {string} to
 * @property {number} min_cell
 * @property {Percentiles} total
 * @property {{day: string, consultations: number | null}[]} per_day
 * @property {{hour: number, consultations: number | null}[]} per_hour
 * @property {(Percentiles & {branch: string | null})[]} branches
 * @property {number} suppressed_cells
 */

/**
 * @typedef {object} AuditEntry
 * @property {number} id
 * @property {number} at
 * @property {string} actor
 * @property {string} action
 * @property {string} subject
 * @property {string | null} old_value
 * @property {string | null} new_value
 */

/**
 * One anonymised access-log line.
 * @typedef {object} AccessLine
 * @property {number} id
 * @property {number} at
 * @property {string} client
 * @property {string} method
 * @property {string} path
 * @property {number} status
 * @property {number} bytes
 * @property {number} duration_ms
 */

/**
 * A party beyond the hub and the kiosk that the tenant may send data to.
 * @typedef {object} Party
 * @property {string} id "turn", "tsa", ...
 * @property {string} name
 * @property {boolean} enabled
 * @property {boolean} available whether the hub is set up for it at all
 * @property {string[]} destinations
 * @property {string} purpose
 * @property {string | null} [url]
 */

/** @typedef {{parties: Party[], relay_only: boolean}} PartiesAnswer */

export {};
