"""The hub keeps only sealed CMS in its archive (docs/archive.md): one DER ContentInfo of
(Authenticated)EnvelopedData, nothing before or after it, nothing else."""

from __future__ import annotations

import pytest
from asn1crypto import cms
from hypothesis import given
from hypothesis import strategies as st

from hub.archive import NotSealed, check_sealed
from signing import sealed
from tests.support import trustee_certs

SEALED = sealed.seal_bytes(b"a chat transcript", trustee_certs.trustee(None).certificate)


def test_a_seal_made_by_the_kiosks_code_is_accepted() -> None:
    check_sealed(SEALED)


@given(st.binary(max_size=512))
def test_random_bytes_are_never_taken_for_sealed_data(data: bytes) -> None:
    with pytest.raises(NotSealed):
        check_sealed(data)


@given(st.integers(min_value=0, max_value=len(SEALED) - 1), st.binary(min_size=1, max_size=8))
def test_a_cut_or_padded_seal_is_refused(cut: int, junk: bytes) -> None:
    with pytest.raises(NotSealed):
        check_sealed(SEALED[:cut])
    with pytest.raises(NotSealed):
        check_sealed(SEALED + junk)


@pytest.mark.parametrize("kind", ["data", "signed_data", "digested_data", "encrypted_data"])
def test_other_cms_content_is_refused(kind: str) -> None:
    info = cms.ContentInfo({"content_type": kind})
    with pytest.raises(NotSealed):
        check_sealed(info.dump())
