"""Errors of the Docs connector, in plain words for the person who clicked."""

from __future__ import annotations

from autan.core.errors import AutanError, ErrorKind, InvalidRequest, NotFound


class DocsNotConfigured(AutanError):
    kind = ErrorKind.UNAVAILABLE
    code = "docs_not_configured"

    def __init__(self) -> None:
        super().__init__("Docs is not connected to this service.")


class DocsTokenMissing(AutanError):
    kind = ErrorKind.FORBIDDEN
    code = "docs_token_missing"

    def __init__(self) -> None:
        super().__init__(
            "Autan has no access to your Docs: sign in with ProConnect, or save a Docs token "
            "in your settings."
        )


class DocsUnavailable(AutanError):
    kind = ErrorKind.UNAVAILABLE
    code = "docs_unavailable"

    def __init__(self) -> None:
        super().__init__("Docs does not answer right now. Try again in a few minutes.")


class DocsTokenRejected(AutanError):
    # Not UNAUTHENTICATED: the person's Autan session is fine, only their Docs access is not.
    kind = ErrorKind.FORBIDDEN
    code = "docs_token_rejected"

    def __init__(self) -> None:
        super().__init__(
            "Docs refused your access: your session or token has expired. Sign in again, "
            "or save a new Docs token in your settings."
        )


class DocsForbidden(AutanError):
    kind = ErrorKind.FORBIDDEN
    code = "docs_forbidden"

    def __init__(self) -> None:
        super().__init__("Docs says you may not do this: you do not have access to it.")


class DocsDocumentNotFound(NotFound):
    code = "docs_document_not_found"

    def __init__(self) -> None:
        super().__init__("This Docs document does not exist, or you no longer have access to it.")


class DocsRefused(AutanError):
    kind = ErrorKind.UPSTREAM
    code = "docs_refused"

    def __init__(self) -> None:
        super().__init__(
            "Docs refused the document: this Docs server may not accept imports (ask its "
            "administrators to allow Markdown uploads)."
        )


class DocsAddressInvalid(InvalidRequest):
    code = "docs_address_invalid"

    def __init__(self) -> None:
        super().__init__(
            "Paste the address of a Docs document (it ends with the document's identifier).",
            param="docs_url",
        )


class DocsLinkNotFound(NotFound):
    code = "docs_link_not_found"

    def __init__(self) -> None:
        super().__init__("This Docs document is not attached here.")
