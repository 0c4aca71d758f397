"""A run's outcome, counts and sentence from what happened to its files."""

from __future__ import annotations

import pytest

from bankfeeds.pipeline.tally import FileProblem, Tally

BAD_ROWS = FileProblem(
    "A.csv", "quarantined", "3 of 5 rows (60.0%) could not be parsed.", "downloaded"
)
UNREADABLE = FileProblem("B.csv", "unreadable", "not a CSV file", "downloaded")
STALE = FileProblem("C.csv", "stale", "the same bytes as 2025-01-09's file", "skipped")


def test_a_clean_run() -> None:
    tally = Tally(discovered=2, downloaded=1, skipped=1, usable=2)
    assert (tally.outcome(), tally.error_code(), tally.summary()) == ("SUCCESS", None, None)
    assert tally.got_file() and not tally.retryable()


@pytest.mark.parametrize(
    ("problems", "usable", "status", "code"),
    [
        ([BAD_ROWS], 0, "FAILED", "file-quarantined"),
        ([BAD_ROWS], 1, "PARTIAL", "file-quarantined"),
        ([UNREADABLE], 0, "FAILED", "file-unreadable"),
        ([STALE], 0, "FAILED", "file-stale"),
        ([STALE, UNREADABLE], 1, "PARTIAL", "file-unreadable"),
    ],
)
def test_problem_files_spoil_the_run(
    problems: list[FileProblem], usable: int, status: str, code: str
) -> None:
    tally = Tally(downloaded=2, skipped=1, problems=problems, usable=usable)
    assert (tally.outcome(), tally.error_code()) == (status, code)
    assert not tally.retryable() and tally.got_file() == bool(usable)


def test_columns_move_quarantined_and_unreadable_files_out_of_downloaded() -> None:
    tally = Tally(downloaded=3, skipped=1, quarantined=1, problems=[BAD_ROWS, UNREADABLE, STALE])
    columns = tally.columns()
    assert (columns["files_downloaded"], columns["files_skipped"]) == (1, 1)
    assert (columns["files_quarantined"], columns["files_failed"]) == (2, 1)


def test_the_sentence_names_each_file_and_why() -> None:
    tally = Tally(downloaded=3, quarantined=1, problems=[BAD_ROWS, UNREADABLE], usable=1)
    assert tally.summary() == (
        "1 file(s) quarantined on checksum mismatch; 1 file(s) quarantined: A.csv: 3 of 5 rows "
        "(60.0%) could not be parsed; 1 file(s) unreadable: B.csv: not a CSV file."
    )
    assert tally.error_code() == "checksum-mismatch"  # the sidecar is the first thing to fix


def test_many_problem_files_are_named_up_to_five() -> None:
    many = [FileProblem(f"F{i}.csv", "unreadable", "empty", "downloaded") for i in range(7)]
    summary = Tally(downloaded=7, problems=many, usable=0).summary()
    assert summary == (
        "7 file(s) unreadable: F0.csv: empty; F1.csv: empty; F2.csv: empty; F3.csv: empty; "
        "F4.csv: empty; and 2 more."
    )


def test_failed_downloads_are_still_retried() -> None:
    tally = Tally(downloaded=1, failed=1, problems=[BAD_ROWS], usable=0)
    assert (tally.outcome(), tally.error_code(), tally.retryable()) == (
        "FAILED",
        "incomplete",
        True,
    )


def test_no_file_is_a_success_that_says_so() -> None:
    tally = Tally(no_file="No file matched X for 2025-01-10 in /up; the directory holds no files.")
    assert (tally.outcome(), tally.error_code()) == ("SUCCESS", "no-file")
    assert tally.summary() == tally.no_file and not tally.got_file()
