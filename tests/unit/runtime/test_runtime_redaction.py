"""Secret values are masked in messages, whatever form they come back in."""

from __future__ import annotations

from eddy_runtime.redaction import Redactor


def test_redactor_masks_secret_values_also_json_escaped() -> None:
    redact = Redactor(['pa"ss word', "abc"])
    assert redact('Invalid value: "pa\\"ss word"') == 'Invalid value: "<redacted>"'
    assert redact('raw pa"ss word here') == "raw <redacted> here"
    assert redact("abc stays: too short to hide") == "abc stays: too short to hide"


def test_each_line_of_a_secret_document_is_masked_on_its_own() -> None:
    redact = Redactor()
    redact.add(["user: admin\npassword: hunter2-secret\n"])
    # Helm quotes one offending line, not the whole values document.
    assert redact("line 2: password: hunter2-secret is invalid") == "line 2: <redacted> is invalid"


def test_a_value_containing_another_is_masked_whole() -> None:
    redact = Redactor(["token-1234", "token-1234-extended"])
    assert redact("got token-1234-extended") == "got <redacted>"


def test_values_added_later_are_masked_too() -> None:
    redact = Redactor(["first-secret"])
    redact.add(["second-secret"])
    assert redact("first-secret second-secret") == "<redacted> <redacted>"
