"""The hub's persistent state: tenants, advisers, devices, web sessions, consultations.

``Storage`` (``hub.storage.interface``) is the one asynchronous interface the hub uses;
``SqliteStorage`` (``hub.storage.sqlite``) is today's engine. The records, errors and checks
live in modules of their own; everything public is re-exported here.
"""

from hub.storage.checks import (
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_TENANT,
    DEVICE_TOKEN_PREFIX,
    MAX_FILE_BYTES_LIMIT,
    MIB,
    NAME_MAX,
    NO_TOKEN_PREFIX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    check_max_file_bytes,
    check_name,
    check_password,
    secret_digest,
)
from hub.storage.errors import (
    CertificateRefused,
    CodeRefused,
    ConstraintViolated,
    DuplicateName,
    InvalidLimit,
    InvalidName,
    NotFound,
    SchemaTooNew,
    StorageError,
    StorageUnavailable,
    WeakPassword,
)
from hub.storage.files import JOURNAL_SUFFIXES, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, make_private
from hub.storage.interface import Storage
from hub.storage.passwords import Passwords
from hub.storage.records import (
    REPORT_HISTORY,
    REPORT_KINDS,
    Adviser,
    AdviserLogin,
    ConsultationRecord,
    Device,
    DeviceCertificate,
    DeviceReportRecord,
    DeviceStatus,
    EnrolmentCodeRecord,
    LiveConsultation,
    NewCertificate,
    RevokedSerial,
    Tenant,
    TenantCa,
    TenantLimits,
    WebSession,
)
from hub.storage.sqlite import SqliteStorage
from hub.storage.sqlite_schema import LATEST_VERSION, MIGRATIONS
from hub.storage.sqlite_worker import DEFAULT_BUSY_TIMEOUT_S

__all__ = [
    "DEFAULT_BUSY_TIMEOUT_S",
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_TENANT",
    "DEVICE_TOKEN_PREFIX",
    "JOURNAL_SUFFIXES",
    "LATEST_VERSION",
    "MAX_FILE_BYTES_LIMIT",
    "MIB",
    "MIGRATIONS",
    "NAME_MAX",
    "NO_TOKEN_PREFIX",
    "PASSWORD_MAX",
    "PASSWORD_MIN",
    "PRIVATE_DIR_MODE",
    "PRIVATE_FILE_MODE",
    "REPORT_HISTORY",
    "REPORT_KINDS",
    "Adviser",
    "AdviserLogin",
    "CertificateRefused",
    "CodeRefused",
    "ConstraintViolated",
    "ConsultationRecord",
    "Device",
    "DeviceCertificate",
    "DeviceReportRecord",
    "DeviceStatus",
    "EnrolmentCodeRecord",
    "DuplicateName",
    "InvalidLimit",
    "InvalidName",
    "LiveConsultation",
    "NewCertificate",
    "NotFound",
    "Passwords",
    "RevokedSerial",
    "SchemaTooNew",
    "SqliteStorage",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "Tenant",
    "TenantCa",
    "TenantLimits",
    "WeakPassword",
    "WebSession",
    "check_max_file_bytes",
    "check_name",
    "check_password",
    "make_private",
    "secret_digest",
]
