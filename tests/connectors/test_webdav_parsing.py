"""PROPFIND answers read safely: no entity expanded or fetched, no href outside the folder,
and credentials sealed so that only this deployment's secret key opens them."""

from __future__ import annotations

import pytest

from autan.connectors.crypto import CredentialBox
from autan.connectors.errors import CredentialUnreadable, DriveError
from autan.connectors.webdav import parse_multistatus, same_etag

ANSWER = b"""<?xml version="1.0"?>
<!DOCTYPE d:multistatus [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<d:multistatus xmlns:d="DAV:">
 <d:response><d:href>/dav/f/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/>
 </d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>
 <d:response><d:href>/dav/f/note%20de%20service.md</d:href><d:propstat><d:prop>
 <d:resourcetype/><d:getetag>"abc&secret;"</d:getetag><d:getcontentlength>42</d:getcontentlength>
 </d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
 <d:propstat><d:prop><d:getlastmodified/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status>
 </d:propstat></d:response>
</d:multistatus>"""


def test_entities_are_never_expanded() -> None:
    folder, note = parse_multistatus(ANSWER)
    assert folder.folder and folder.href_path == "/dav/f/"
    assert not note.folder and note.size == 42
    assert "root:" not in note.etag  # /etc/passwd was not read into the ETag


def test_an_answer_that_is_not_webdav_is_refused() -> None:
    with pytest.raises(DriveError) as caught:
        parse_multistatus(b"<html><body>Connexion</body></html>")
    assert caught.value.code == "drive_not_webdav"


def test_etags_compare_quoted_or_not_weak_or_strong() -> None:
    assert same_etag('"123-45"', "123-45") and same_etag('W/"x"', '"x"')
    assert not same_etag('"1"', '"2"')


def test_credentials_open_only_with_the_same_secret_key() -> None:
    sealed = CredentialBox("clé-une").seal("mot-de-passe")
    assert "mot-de-passe" not in sealed
    assert CredentialBox("clé-une").open(sealed) == "mot-de-passe"
    with pytest.raises(CredentialUnreadable):
        CredentialBox("clé-deux").open(sealed)
