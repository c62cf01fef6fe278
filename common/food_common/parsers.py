"""The request body parser of every service: a body it cannot read is a 400, never a 500.

DRF's JSONParser turns a ValueError (malformed JSON, bytes that are not UTF-8) into a ParseError,
but not the RecursionError that Python's json module raises for deeply nested input: about 1,000
brackets, 2 KB of JSON, made every service answer 500.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, with input nested too deeply for the parser refused as a ParseError."""

    def parse(self, stream, media_type=None, parser_context=None):
        """Return the parsed body, or raise ParseError (400 `parse_error`) for what cannot be read."""
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
        except ValueError as exc:  # DRF catches these itself; any that escapes is still a 400
            raise ParseError(f"JSON parse error - {exc}") from None
