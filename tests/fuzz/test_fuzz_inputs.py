"""Bad input never crashes: the corpus under tests/corpus/ and hypothesis-made inputs.

Over the config loader, the cadence phrase parser, case import and attendance import.
The contract (README "Bad input"): a message naming the file and line, exit status 2,
no traceback, and the database exactly as it was (a dump compared before and after).
Hypothesis examples are bounded so the suite stays fast.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meetings.cases.importing import CaseFileError, read_cases
from meetings.kernel.yamlsource import SourceError, load_yaml
from meetings.schedule.cadence import CadenceError, parse_cadence
from meetings.schedule.config_build import build_config
from tests.conftest import BACKEND, Cli, CliResult, write
from tests.support.configs import BASE
from tests.support.dbdump import dump

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
NOW = "2023-06-01T09:00"
UID = "cp-20230111@liaison.test.example"
CASE_HEADER = (
    "case_no,case_type,district,name,sdm_risk,tipvda_score,service,status,agency,worker,"
    "reported_at,rereported_at,order_expiry,listed_reason"
)
GOOD_CASE = "CP-001,兒少保護,甲區,王小明,高,,家庭維繫,開案,DVPC,陳社工,2022-10-03,2022-12-20,,"
ATT_HEADER = "uid,agency,person,status,rank"

PURE = settings(max_examples=100, deadline=None, derandomize=True)
# Examples that run a CLI command against the database: fewer (fewer still on the
# PostgreSQL pass: the parsers are the same, only storing differs), the fixture shared.
WITH_DB = settings(
    max_examples=10 if BACKEND == "sqlite" else 5,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Strings that tend to break parsers: controls, bidi overrides, surrogates-free oddities.
NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "\r\n",
        "\u202e",
        "\ufeff",
        "０",
        "１２",
        "-0",
        "1e999",
        "NaN",
        "~",
        "null",
        "yes",
        "14:00",
        "112/02/30",
        "2023-02-29",
        "'; DROP TABLE series; --",
        "{{ 7*7 }}",
        "<script>",
        "../../etc/passwd",
        "每月召開1次",
        "FREQ=MONTHLY",
        "𠮷" * 3,
        "x" * 300,
    ]
)
TEXT = st.one_of(NASTY, st.text(max_size=40))


def corpus(kind: str) -> list[Path]:
    return sorted(p for p in (CORPUS / kind).iterdir() if p.is_file())


def assert_refused(result: CliResult, name: str) -> None:
    """Exit 2, a message naming the input, no traceback."""
    output = result.stdout + result.stderr
    assert result.exit_code == 2, f"{name}: exit {result.exit_code}\n{output}"
    assert name in result.stderr, f"{name} not named in: {result.stderr}"
    assert "Traceback" not in output


def assert_ok_or_refused(result: CliResult, name: str, before: Any, db_url: str) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.exit_code in (0, 2), f"exit {result.exit_code}: {output}"
    if result.exit_code == 2:
        assert name in result.stderr, result.stderr
        assert dump(db_url) == before


@pytest.fixture
def loaded(cli: Cli, tmp_path: Path) -> Cli:
    """A city with its 2023 meetings, one case, and the January meeting held."""
    cfg = write(tmp_path / "city.yaml", BASE)
    assert cli("config", "load", str(cfg), "--now", "2023-01-01T09:00").exit_code == 0
    gen = cli("schedule", "generate", "--from", "2023-01-01", "--to", "2023-12-31", "--now", NOW)
    assert gen.exit_code == 0, gen.stderr
    cases = write(tmp_path / "cases.csv", f"{CASE_HEADER}\n{GOOD_CASE}\n")
    assert cli("cases", "import", str(cases), "--now", NOW).exit_code == 0
    att = cli("attendance", "record", UID, "--agency", "POL", "--status", "present", "--now", NOW)
    assert att.exit_code == 0, att.stderr
    return cli


# --- the corpus ------------------------------------------------------------------------------


def test_config_corpus_is_refused_and_nothing_stored(loaded: Cli, db_url: str) -> None:
    before = dump(db_url)
    for path in corpus("config"):
        assert_refused(loaded("config", "load", str(path), "--now", NOW), path.name)
    assert dump(db_url) == before


def test_cadence_corpus_is_refused_by_the_parser_and_by_config_load(
    loaded: Cli, db_url: str, tmp_path: Path
) -> None:
    phrases = [
        line.replace("\\n", "\n")
        for path in corpus("cadence")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert len(phrases) > 20
    before = dump(db_url)
    for phrase in phrases:
        with pytest.raises(CadenceError):
            parse_cadence(phrase)
        rrule = phrase.startswith(("FREQ", "RRULE", "DTSTART", ";", "="))
        value = yaml.safe_dump({"rrule": phrase} if rrule else phrase, allow_unicode=True)
        text = BASE.replace("cadence: 每月召開1次", "cadence: " + value.strip().split("\n")[0])
        if "\n" in phrase:
            text = BASE.replace("cadence: 每月召開1次", f"cadence: {{rrule: {phrase!r}}}")
        cfg = write(tmp_path / "cadence.yaml", text)
        result = loaded("config", "load", str(cfg), "--now", NOW)
        assert_refused(result, "cadence.yaml")
        assert re.search(r"cadence\.yaml:\d+: ", result.stderr), result.stderr
    assert dump(db_url) == before


def test_case_corpus_is_refused_and_nothing_stored(loaded: Cli, db_url: str) -> None:
    before = dump(db_url)
    for path in corpus("cases"):
        assert_refused(loaded("cases", "import", str(path), "--now", NOW), path.name)
    assert dump(db_url) == before


def test_attendance_corpus_is_refused_and_nothing_stored(loaded: Cli, db_url: str) -> None:
    before = dump(db_url)
    for path in corpus("attendance"):
        assert_refused(loaded("attendance", "import", str(path), "--now", NOW), path.name)
    assert dump(db_url) == before


# --- hypothesis: pure parsers (no database) ---------------------------------------------------

BASE_LINES = BASE.splitlines()


@st.composite
def mutated_config(draw: st.DrawFn) -> str:
    """The valid BASE config with a few lines replaced, removed, duplicated or garbled."""
    lines = list(BASE_LINES)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["value", "delete", "duplicate", "insert", "indent"]))
        line = lines[i]
        if how == "value" and ":" in line:
            key = line.split(":", 1)[0]
            value = draw(TEXT)
            quoted = draw(st.booleans())
            lines[i] = f"{key}: " + (
                yaml.safe_dump(value, allow_unicode=True).split("\n")[0] if quoted else value
            )
        elif how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, line)
        elif how == "insert":
            lines.insert(i, draw(TEXT))
        else:
            lines[i] = " " * draw(st.integers(0, 5)) + line.lstrip()
        if not lines:
            lines = [""]
    return "\n".join(lines) + "\n"


YAML_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=False),
        TEXT,
        st.just([]),
        st.just({}),
    ),  # fmt: skip
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(
            st.sampled_from(
                ["city", "series", "agencies", "id", "title", "cadence", "time", "every", "on"]
            )
            | st.text(max_size=8),
            inner,
            min_size=1,
            max_size=4,
        ),
    ),
    max_leaves=12,
)


def check_config(text: str, name: str = "city.yaml") -> None:
    try:
        build_config([load_yaml(text, name)])
    except SourceError as exc:
        assert exc.errors
        for e in exc.errors:
            assert re.match(rf"{re.escape(name)}:\d+: .", e), e


@PURE
@given(mutated_config())
def test_config_loader_mutations_are_accepted_or_refused_with_file_and_line(text: str) -> None:
    check_config(text)


@PURE
@given(
    st.fixed_dictionaries(
        {"city": TEXT, "series": st.lists(YAML_VALUES, max_size=3)},
        optional={"agencies": YAML_VALUES, "domain": TEXT, "districts": YAML_VALUES},
    )
    | YAML_VALUES
)
def test_config_loader_arbitrary_documents_never_crash(data: Any) -> None:
    check_config(yaml.safe_dump(data, allow_unicode=True))


PHRASE_PARTS = st.lists(
    st.sampled_from(
        [
            "每",
            "隔",
            "兩",
            "三",
            "月",
            "季",
            "年",
            "週",
            "半年",
            "召開",
            "次",
            "1",
            "2",
            "0",
            "十二",
            "一百",
            "個",
            "第",
            "星期三",
            "上旬",
            "下午",
            "FREQ=",
            "MONTHLY",
            ";",
            "BYDAY=",
            "+9WE",
            "INTERVAL=",
            "-1",
            "、",
            "及",
            "，",
        ]
    )  # fmt: skip
    | TEXT,
    max_size=8,
).map("".join)


@PURE
@given(PHRASE_PARTS, st.none() | st.integers(-2, 14))
def test_cadence_phrases_parse_or_raise_cadence_error(phrase: str, anchor: int | None) -> None:
    try:
        cadence = parse_cadence(phrase, anchor_month=anchor)
    except CadenceError as exc:
        assert str(exc)
    else:
        assert cadence.rrule.startswith("FREQ=")


@PURE
@given(
    st.dictionaries(
        st.sampled_from(["every", "on", "interval", "months", "rrule", "at", "nth"])
        | st.text(max_size=6),
        YAML_VALUES,
        max_size=4,
    )
)
def test_cadence_mappings_parse_or_raise_cadence_error(value: dict[str, Any]) -> None:
    try:
        parse_cadence(value)
    except CadenceError as exc:
        assert str(exc)


def csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue()


@st.composite
def case_files(draw: st.DrawFn) -> bytes:
    """The case header and a good row, with cells, columns or bytes garbled."""
    header = CASE_HEADER.split(",")
    rows = [GOOD_CASE.split(",") for _ in range(draw(st.integers(1, 3)))]
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["cell", "cell", "header", "drop", "extra"]))
        r = draw(st.sampled_from(rows))
        if how == "cell" and r:
            r[draw(st.integers(0, len(r) - 1))] = draw(TEXT)
        elif how == "header" and header:
            header[draw(st.integers(0, len(header) - 1))] = draw(TEXT)
        elif how == "drop" and r:
            del r[draw(st.integers(0, len(r) - 1)) :]
        else:
            r.append(draw(TEXT))
    text = csv_line(header) + "".join(csv_line(r) for r in rows)
    raw = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        raw = draw(st.binary(max_size=200)) + raw[: draw(st.integers(0, len(raw)))]
    return raw


@PURE
@given(case_files())
def test_case_files_parse_or_raise_with_file_and_row(tmp_path_factory: Any, raw: bytes) -> None:
    path = tmp_path_factory.mktemp("cases") / "cases.csv"
    path.write_bytes(raw)
    try:
        list(read_cases(path, ["甲區", "乙區"]))
    except CaseFileError as exc:
        for e in exc.errors:
            assert e.startswith(f"{path}:"), e


# --- hypothesis: through the CLI, database compared --------------------------------------------


def fuzz_cli(loaded: Cli, db_url: str, tmp_path: Path) -> Callable[[str, bytes, list[str]], None]:
    def run(name: str, raw: bytes, command: list[str]) -> None:
        path = tmp_path / name
        path.write_bytes(raw)
        before = dump(db_url)
        result = loaded(*command, str(path), "--now", NOW)
        assert_ok_or_refused(result, name, before, db_url)

    return run


@WITH_DB
@given(text=mutated_config())
def test_cli_config_load_fuzz(loaded: Cli, db_url: str, tmp_path: Path, text: str) -> None:
    fuzz_cli(loaded, db_url, tmp_path)("city.yaml", text.encode(), ["config", "load"])


@WITH_DB
@given(raw=case_files())
def test_cli_cases_import_fuzz(loaded: Cli, db_url: str, tmp_path: Path, raw: bytes) -> None:
    fuzz_cli(loaded, db_url, tmp_path)("cases.csv", raw, ["cases", "import"])


@st.composite
def attendance_files(draw: st.DrawFn) -> bytes:
    header = ATT_HEADER.split(",")
    good = [UID, "POL", "", "present", ""]
    rows = [list(good) for _ in range(draw(st.integers(1, 3)))]
    for _ in range(draw(st.integers(1, 3))):
        r = draw(st.sampled_from(rows))
        i = draw(st.integers(0, len(r) - 1))
        r[i] = draw(
            TEXT | st.sampled_from(["absent", "delegated", "DVPC", "a@b.example", "cp-20230208@x"])
        )
    if draw(st.booleans()):
        header[draw(st.integers(0, len(header) - 1))] = draw(TEXT)
    return (csv_line(header) + "".join(csv_line(r) for r in rows)).encode("utf-8")


@WITH_DB
@given(raw=attendance_files())
def test_cli_attendance_import_fuzz(loaded: Cli, db_url: str, tmp_path: Path, raw: bytes) -> None:
    fuzz_cli(loaded, db_url, tmp_path)("attendance.csv", raw, ["attendance", "import"])
