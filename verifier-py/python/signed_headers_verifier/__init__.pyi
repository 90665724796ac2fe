from typing import Any, Mapping, Optional, Sequence, Union

HEADER: str

class VerificationError(Exception):
    code: str
    message: str
    def __init__(self, code: str, message: str) -> None: ...

def header_pairs(headers: Any) -> list[tuple[str, str]]: ...
def status_of(error: VerificationError) -> int: ...

class Verifier:
    header_name: str
    def __init__(
        self,
        *,
        issuer: Union[str, Sequence[str]],
        audience: Union[str, Sequence[str]],
        jwks_url: Optional[str] = ...,
        jwks: Union[str, Mapping[str, Any], None] = ...,
        bundle: Optional[str] = ...,
        clock_skew_seconds: Optional[int] = ...,
        header_name: str = ...,
    ) -> None: ...
    def verify(self, token: str) -> dict[str, Any]: ...
    def verify_headers(self, headers: Any) -> dict[str, Any]: ...
    async def verify_async(self, token: str) -> dict[str, Any]: ...
    async def verify_headers_async(self, headers: Any) -> dict[str, Any]: ...
    def stats(self) -> dict[str, int]: ...
