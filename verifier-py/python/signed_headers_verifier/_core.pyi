from typing import Optional

class CoreVerifier:
    @staticmethod
    def create(
        issuers: list[str],
        audiences: list[str],
        *,
        jwks_url: Optional[str] = ...,
        jwks: Optional[str] = ...,
        bundle: Optional[str] = ...,
        clock_skew_seconds: Optional[int] = ...,
        header_name: Optional[str] = ...,
    ) -> CoreVerifier: ...
    def verify(self, token: str) -> tuple[bool, str, str]: ...
    def verify_headers(self, headers: list[tuple[str, str]]) -> tuple[bool, str, str]: ...
    def stats(self) -> tuple[int, int, int, int, int]: ...
