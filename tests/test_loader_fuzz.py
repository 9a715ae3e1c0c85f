"""Property-based tests that feed the ml-100k loader malformed files.

Every input must either load into a RawData that meets the documented
invariants or raise DataError that names the file and, for a problem in one
line, that 1-based line. Any other exception fails the test. The loader skips
no lines, so the tests also check that an accepted line appears in the result
with its values.

Most tests insert one generated line into small valid files. The other lines
are valid, so an error must point at the inserted line.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from graphrec.data.movielens import ML100K_FILES, ML100K_GENRES, load_ml100k
from graphrec.data.tables import RawData
from graphrec.errors import DataError

# With these example counts the file ran in about 14 s on a 2-core Linux
# machine, within the two minutes that CI allows for the fuzz tests. The
# example database is off so that CI runs do not depend on earlier local runs.
FUZZ = settings(max_examples=150, deadline=None, database=None)
FUZZ_FEW = settings(max_examples=60, deadline=None, database=None)

N_GENRES = len(ML100K_GENRES)


def flags(*genres: int) -> list[str]:
    return ["1" if i in genres else "0" for i in range(N_GENRES)]


# Valid rows with user ids 1..3 and item ids 10..40. Well-formed generated rows
# use other ids, and check_inserted_line allows for malformed ones that repeat them.
BASE_RATINGS = [
    "1\t10\t5\t881250949",
    "1\t20\t3\t881250950",
    "2\t10\t4\t891717742",
    "3\t30\t1\t878887116",
]
BASE_ITEMS = [
    "|".join(["10", "Toy Story (1995)", "01-Jan-1995", "", "http://us.imdb.com/M/x"] + flags(3, 4, 5)),
    "|".join(["20", "Misérables, Les (1995)", "01-Jan-1995", "", "http://us.imdb.com/M/y"] + flags(8, 12)),
    "|".join(["30", "Two Friends ", "26-Apr-1986", "", ""] + flags(8)),
    "|".join(["40", "unknown", "", "", ""] + flags(0)),
]
BASE_USERS = [
    "1|24|M|technician|85711",
    "2|53|F|other|94043",
    "3|23|M|writer|T8H1N",
]
BASE_LINES = {"u.data": BASE_RATINGS, "u.item": BASE_ITEMS, "u.user": BASE_USERS}
FIELD_COUNTS = {"u.data": 4, "u.item": 5 + N_GENRES, "u.user": 5}


def encode_lines(lines: list[str], encoding: str = "latin-1", newline: str = "\n", bom: bool = False) -> bytes:
    data = "".join(line + newline for line in lines).encode(encoding)
    return b"\xef\xbb\xbf" + data if bom else data


def base_files() -> dict[str, bytes]:
    return {name: encode_lines(lines) for name, lines in BASE_LINES.items()}


@contextmanager
def ml_folder(files: dict[str, bytes]) -> Iterator[Path]:
    """Write ``files`` (name -> bytes) into a temporary ml-100k folder."""
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "ml-100k"
        folder.mkdir()
        for name, data in files.items():
            (folder / name).write_bytes(data)
        yield folder


def load_or_error(path: Path) -> tuple[RawData | None, DataError | None]:
    """Load ``path``. DataError is returned, and any other exception propagates and fails the test.

    Each outcome is recorded as a Hypothesis event, which
    ``pytest --hypothesis-show-statistics`` lists, to show which checks the examples reach.
    """
    try:
        raw = load_ml100k(path)
    except DataError as err:
        message = str(err).split(": ", 1)[-1]
        event("DataError: " + re.sub(r"'.*'|[0-9]+", "_", message)[:60])
        return None, err
    event("loaded")
    return raw, None


def assert_valid_raw(raw: RawData) -> None:
    """Check the invariants that tables.RawData documents, plus those load_ml100k promises."""
    ratings = raw.interactions
    assert list(ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert ratings["user_id"].dtype == np.int64
    assert ratings["item_id"].dtype == np.int64
    assert ratings["rating"].dtype == np.float64
    assert ratings["timestamp"].dtype == np.int64
    assert not ratings.isna().any().any()
    assert ratings["rating"].between(1, 5).all()
    assert (ratings["user_id"] >= 1).all()
    assert (ratings["item_id"] >= 1).all()
    assert (ratings["timestamp"] >= 0).all()

    items = raw.items
    assert list(items.columns) == ["item_id", "title", "year", "genres"]
    assert items["item_id"].dtype == np.int64
    assert items["year"].dtype == "Int64"
    assert items["item_id"].is_unique
    assert all(isinstance(genres, tuple) and set(genres) <= set(ML100K_GENRES) for genres in items["genres"])

    users = raw.users
    assert list(users.columns) == ["user_id", "age", "gender", "occupation", "zip_code"]
    assert users["user_id"].dtype == np.int64
    assert users["age"].dtype == np.int64
    assert users["user_id"].is_unique
    assert (users["age"] >= 0).all()

    assert ratings["item_id"].isin(items["item_id"]).all()
    assert ratings["user_id"].isin(users["user_id"]).all()


def assert_error_at(err: DataError, path: Path, line: int | None) -> None:
    """Check that ``err`` names ``path`` and ``line``, in its fields and in its message."""
    assert err.path == path, str(err)
    assert err.line == line, str(err)
    if line is None:
        assert str(err).startswith(f"{path}: "), str(err)
    else:
        assert str(err).startswith(f"{path}:{line}: "), str(err)


# --- Strategies ---------------------------------------------------------------

# Text of latin-1 characters without line breaks. NUL and other control
# characters are included on purpose.
latin1_text = st.text(st.characters(max_codepoint=0xFF, exclude_characters="\n\r"), max_size=12)
text_without_bar = st.text(st.characters(max_codepoint=0xFF, exclude_characters="\n\r|\x00"), max_size=12)

number_token = st.one_of(
    st.integers(-10, 10).map(str),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        [
            "9223372036854775807",  # int64 max, valid where no upper bound applies
            "9223372036854775808",  # int64 max + 1
            "-9223372036854775809",
            "18446744073709551616",
            "1" * 5000,  # longer than the 4300 digits that int() accepts by default
            "0" * 30 + "7",
        ]
    ),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "1_0", "0x1F", "٣", "½", "+3", "3.", ".5"]),
    st.sampled_from(["", " ", " 3", "3 ", " 3 ", "\t3", "3\t", "3\xa0", "1,5", "4,0"]),
    latin1_text,
)

separator = st.sampled_from(["\t", ",", " ", ";", "|", "\t\t", " \t", "\t ", "  "])
line_ending = st.sampled_from(["\n", "\r\n"])

# (encoding, BOM). latin-1 with a BOM is left out because the base u.item has a
# non-ASCII title, which then fails as invalid UTF-8 on a line of its own.
file_encoding = st.sampled_from([("latin-1", False), ("utf-8", False), ("utf-8", True)])

valid_flag = st.sampled_from(["0", "1"])
bad_flag = st.sampled_from(["2", "-1", "", " 1", "01", "1.0", "x", "1e0", "+1"])


@st.composite
def separated(draw, fields: st.SearchStrategy[str], min_size: int, max_size: int) -> str:
    """Draw a line of ``min_size..max_size`` fields joined by one separator, or by a mix of separators."""
    values = draw(st.lists(fields, min_size=min_size, max_size=max_size))
    if draw(st.booleans()):
        return draw(separator).join(values)
    line = values[0] if values else ""
    for value in values[1:]:
        line += draw(separator) + value
    return line


@st.composite
def fields_with_faults(draw, valid: list[st.SearchStrategy[str]], faulty: list[st.SearchStrategy[str]]) -> list[str]:
    """Draw one value per field from ``valid``, except for up to two fields drawn from ``faulty``.

    Most generated rows then get past the field count, so that the value checks
    behind it are reached as well.
    """
    faults = draw(st.sets(st.integers(0, len(valid) - 1), max_size=2))
    return [draw(faulty[i] if i in faults else valid[i]) for i in range(len(valid))]


@st.composite
def rating_line(draw) -> str:
    if draw(st.integers(0, 3)) == 0:
        line = draw(separated(number_token, 0, 7))
    else:
        valid = [
            st.sampled_from(["1", "2", "3"]),
            st.sampled_from(["10", "20", "30", "40"]),
            st.sampled_from(["1", "3", "5", "2.5", " 4 ", "+4", "4.", "5e0"]),
            st.sampled_from(["0", "881250949", " 881250949"]),
        ]
        line = "\t".join(draw(fields_with_faults(valid, [number_token] * 4)))
    return line + draw(st.sampled_from(["", " ", "  "]))


@st.composite
def item_line(draw) -> str:
    if draw(st.integers(0, 3)) == 0:
        fields = st.one_of(latin1_text, number_token, valid_flag, bad_flag)
        return "|".join(draw(st.lists(fields, min_size=0, max_size=30)))

    title = st.one_of(st.sampled_from(["Heat (1995)", "", "Crème (1970) (V)", "  "]), text_without_bar)
    valid = [
        st.integers(41, 10_000).map(str),
        title,
        st.sampled_from(["01-Jan-1995", ""]),
        st.just(""),
        st.just("http://us.imdb.com/M/z"),
    ] + [valid_flag] * N_GENRES
    faulty = [number_token, st.just("A|B (1999)"), latin1_text, latin1_text, latin1_text] + [bad_flag] * N_GENRES
    fields = draw(fields_with_faults(valid, faulty))
    extra = draw(st.sampled_from([0] * 6 + [-1, 1]))
    if extra < 0:
        fields.pop()
    elif extra > 0:
        fields.append("0")
    return "|".join(fields)


@st.composite
def user_line(draw) -> str:
    if draw(st.integers(0, 3)) == 0:
        fields = st.one_of(latin1_text, number_token)
        return "|".join(draw(st.lists(fields, min_size=0, max_size=8)))

    valid = [
        st.integers(4, 10_000).map(str),
        st.integers(0, 99).map(str),
        st.sampled_from(["M", "F"]),
        text_without_bar,
        text_without_bar,
    ]
    faulty = [number_token, number_token, latin1_text, latin1_text, latin1_text]
    return "|".join(draw(fields_with_faults(valid, faulty)))


# --- One malformed line among valid ones ---------------------------------------


def check_inserted_line(name: str, line: str, position: int, encoding: tuple[str, bool], newline: str) -> None:
    """Insert ``line`` into the valid file ``name`` and check the outcome of loading.

    A DataError must name ``name`` and the inserted line. A successful load
    must contain the inserted row with the values of the line.
    """
    # Characters that the file's encoding lacks become "?".
    line = line.encode(encoding[0], errors="replace").decode(encoding[0])
    lines = list(BASE_LINES[name])
    position = min(position, len(lines))
    lines.insert(position, line)
    files = base_files()
    files[name] = encode_lines(lines, encoding[0], newline, encoding[1])

    with ml_folder(files) as folder:
        raw, err = load_or_error(folder)

        if err is not None:
            first_copy = re.search(r"first listed on line (\d+)", str(err))
            if first_copy and int(first_copy.group(1)) == position + 1:
                # The inserted row repeats the id of a later row, and the
                # duplicate is reported on that later row.
                assert err.line > position + 1
                assert_error_at(err, folder / name, err.line)
            else:
                assert_error_at(err, folder / name, position + 1)
            return

    assert_valid_raw(raw)
    # The loader reads a file as UTF-8 when the whole file is valid UTF-8, so
    # latin-1 bytes of the line may then decode to other characters.
    encoded = line.encode(encoding[0])
    try:
        files[name].decode("utf-8")
        line = encoded.decode("utf-8")
    except UnicodeDecodeError:
        line = encoded.decode("latin-1")
    fields = line.split("\t" if name == "u.data" else "|")
    assert len(fields) == FIELD_COUNTS[name]
    if name == "u.data":
        row = raw.interactions.iloc[position]
        assert len(raw.interactions) == len(lines)
        assert row["user_id"] == int(fields[0])
        assert row["item_id"] == int(fields[1])
        assert row["rating"] == float(fields[2])
        assert row["timestamp"] == int(fields[3])
    elif name == "u.item":
        row = raw.items.iloc[position]
        assert len(raw.items) == len(lines)
        assert row["item_id"] == int(fields[0])
        assert row["title"] == fields[1]
        assert row["genres"] == tuple(g for g, flag in zip(ML100K_GENRES, fields[5:]) if int(flag) == 1)
    else:
        row = raw.users.iloc[position]
        assert len(raw.users) == len(lines)
        assert row["user_id"] == int(fields[0])
        assert row["age"] == int(fields[1])
        assert row["zip_code"] == fields[4]


@FUZZ
@given(line=rating_line(), position=st.integers(0, 4), encoding=file_encoding, newline=line_ending)
@example(line="1\t10\t3\t99999999999999999999", position=1, encoding=("latin-1", False), newline="\n")
@example(line="1\t10\t3\t9223372036854775808", position=0, encoding=("latin-1", False), newline="\n")
@example(line="1.0\t10\t3\t881250949", position=2, encoding=("latin-1", False), newline="\n")
@example(line="1\t10\tnan\t881250949", position=2, encoding=("utf-8", True), newline="\r\n")
@example(line="1\t10\t3\t" + "1" * 5000, position=4, encoding=("latin-1", False), newline="\n")
@example(line="1\t10\t٣\t881250949", position=3, encoding=("utf-8", False), newline="\n")
@example(line="1\t999\t3\t881250949", position=0, encoding=("latin-1", False), newline="\n")
def test_ratings_line_fuzz(line: str, position: int, encoding: tuple[str, bool], newline: str):
    check_inserted_line("u.data", line, position, encoding, newline)


@FUZZ
@given(line=item_line(), position=st.integers(0, 4), encoding=file_encoding, newline=line_ending)
@example(
    line="|".join(["50", "Toy\rStory (1995)", "", "", ""] + flags()),
    position=0,
    encoding=("latin-1", False),
    newline="\n",
)
@example(
    line="|".join(["50", "A|B (1995)", "", "", ""] + flags()),
    position=2,
    encoding=("latin-1", False),
    newline="\n",
)
@example(
    line="|".join(["50", "Heat (1995)", "", "", ""] + ["2"] + flags()[1:]),
    position=4,
    encoding=("utf-8", True),
    newline="\r\n",
)
def test_items_line_fuzz(line: str, position: int, encoding: tuple[str, bool], newline: str):
    check_inserted_line("u.item", line, position, encoding, newline)


@FUZZ
@given(line=user_line(), position=st.integers(0, 3), encoding=file_encoding, newline=line_ending)
@example(line="4|-1|M|other|55414", position=1, encoding=("latin-1", False), newline="\n")
@example(line="4|twenty|M|other|55414", position=3, encoding=("latin-1", False), newline="\n")
@example(line="4|20|M|other|554\x0014", position=0, encoding=("latin-1", False), newline="\n")
def test_users_line_fuzz(line: str, position: int, encoding: tuple[str, bool], newline: str):
    check_inserted_line("u.user", line, position, encoding, newline)


@FUZZ_FEW
@given(
    name=st.sampled_from(["u.item", "u.user"]),
    original=st.integers(0, 2),
    offset=st.integers(1, 3),
)
def test_duplicate_id_line(name: str, original: int, offset: int):
    # A copy of a valid row placed after the original is reported on the copy's line.
    lines = list(BASE_LINES[name])
    position = min(original + offset, len(lines))
    lines.insert(position, lines[original])
    files = base_files()
    files[name] = encode_lines(lines)

    with ml_folder(files) as folder:
        raw, err = load_or_error(folder)

        assert raw is None
        assert_error_at(err, folder / name, position + 1)
        assert "duplicate" in str(err)
        assert f"first listed on line {original + 1}" in str(err)


@FUZZ_FEW
@given(
    name=st.sampled_from(ML100K_FILES),
    position=st.integers(0, 4),
    blank=st.sampled_from(["", " ", "\t", " \t ", "\x0c"]),
    newline=line_ending,
)
def test_blank_line_rejected(name: str, position: int, blank: str, newline: str):
    lines = list(BASE_LINES[name])
    position = min(position, len(lines))
    lines.insert(position, blank)
    files = base_files()
    files[name] = encode_lines(lines, newline=newline)

    with ml_folder(files) as folder:
        raw, err = load_or_error(folder)

        assert raw is None
        assert_error_at(err, folder / name, position + 1)


@FUZZ_FEW
@given(
    name=st.sampled_from(ML100K_FILES),
    encoding=file_encoding,
    newline=line_ending,
    final_newline=st.booleans(),
    padding=st.sampled_from(["", " ", "  "]),
)
def test_valid_variants_load(name: str, encoding: tuple[str, bool], newline: str, final_newline: bool, padding: str):
    # Line endings, encodings, a BOM and spaces around numbers do not change the values.
    lines = list(BASE_LINES[name])
    if name == "u.data":
        lines = ["\t".join(padding + field + padding for field in line.split("\t")) for line in lines]
    files = base_files()
    data = encode_lines(lines, encoding[0], newline, encoding[1])
    files[name] = data if final_newline else data[: -len(newline)]

    with ml_folder(files) as folder:
        raw = load_ml100k(folder)

    assert_valid_raw(raw)
    assert raw.interactions["user_id"].tolist() == [1, 1, 2, 3]
    assert raw.interactions["rating"].tolist() == [5.0, 3.0, 4.0, 1.0]
    assert raw.items["title"].tolist() == ["Toy Story (1995)", "Misérables, Les (1995)", "Two Friends ", "unknown"]
    assert raw.users["zip_code"].tolist() == ["85711", "94043", "T8H1N"]


# --- Whole files of random or damaged bytes -------------------------------------


@st.composite
def damaged_bytes(draw, original: bytes) -> bytes:
    """Draw random bytes, or ``original`` with a few bytes replaced, inserted or deleted."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=300))
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["replace", "insert", "delete"]))
        chunk = draw(st.binary(min_size=1, max_size=4))
        if action == "insert" or position == len(data):
            data[position:position] = chunk
        elif action == "replace":
            data[position : position + len(chunk)] = chunk
        else:
            del data[position : position + len(chunk)]
    return bytes(data)


@FUZZ
@given(name=st.sampled_from(ML100K_FILES), data=st.data())
def test_damaged_file_bytes(name: str, data: st.DataObject):
    files = base_files()
    files[name] = data.draw(damaged_bytes(files[name]), label="file")

    with ml_folder(files) as folder:
        raw, err = load_or_error(folder)

        if raw is not None:
            assert_valid_raw(raw)
            return
        # A changed id in u.item or u.user can leave a rating in u.data pointing
        # at an id that no longer exists, so u.data may be named instead.
        assert err.path in (folder / name, folder / "u.data"), str(err)
        if err.line is not None:
            line_count = files[err.path.name].count(b"\n") + 1
            assert 1 <= err.line <= line_count, str(err)
            assert str(err).startswith(f"{err.path}:{err.line}: "), str(err)
        else:
            assert str(err).startswith(f"{err.path}: "), str(err)


# --- Zip archives -----------------------------------------------------------------

member_name = st.one_of(
    st.sampled_from(["u.data", "u.item", "u.user", "ml-100k/", "other/u.data", "a/b/u.data", "U.DATA", "u.data "]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=12),
)


@st.composite
def archive_layout(draw) -> list[tuple[str, bytes | None]]:
    """Draw zip members as (name, bytes), where bytes of None make a folder entry."""
    top = draw(st.sampled_from(["", "ml-100k/", "ML-100K/", "data/"]))
    members = []
    for name, data in base_files().items():
        kind = draw(st.sampled_from(["file", "file", "missing", "folder", "renamed"]))
        if kind == "file":
            members.append((top + name, data))
        elif kind == "folder":
            members.append((top + name + "/", None))
        elif kind == "renamed":
            members.append((draw(member_name), data))
    for extra in draw(st.lists(member_name, max_size=3)):
        members.append((extra, draw(st.binary(max_size=20))))

    # zipfile keeps every entry of a repeated name, so keep the first one only.
    unique = {}
    for name, data in members:
        unique.setdefault(name, data)
    return list(unique.items())


def write_archive(path: Path | io.BytesIO, members: list[tuple[str, bytes | None]], compression: int) -> None:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members:
            if data is None:
                archive.mkdir(name.rstrip("/"))
            else:
                archive.writestr(name, data)


def assert_zip_outcome(archive: Path) -> None:
    raw, err = load_or_error(archive)
    if raw is not None:
        assert_valid_raw(raw)
        assert raw.source_files == [archive]
        return
    # Messages name the archive itself, or archive/member for a problem inside one file.
    assert err.path == archive or archive in err.path.parents, str(err)
    location = f"{err.path}:{err.line}: " if err.line is not None else f"{err.path}: "
    assert str(err).startswith(location), str(err)


@FUZZ_FEW
@given(members=archive_layout())
@example(members=[("ml-100k/u.data/", None), ("ml-100k/u.item", b""), ("ml-100k/u.user", b"")])
def test_zip_member_layout(members: list[tuple[str, bytes | None]]):
    with tempfile.TemporaryDirectory() as root:
        archive = Path(root) / "ml-100k.zip"
        write_archive(archive, members, zipfile.ZIP_DEFLATED)

        assert_zip_outcome(archive)


def valid_archive(compression: int) -> bytes:
    buffer = io.BytesIO()
    write_archive(buffer, [("ml-100k/" + name, data) for name, data in base_files().items()], compression)
    return buffer.getvalue()


@FUZZ
@given(
    compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
    data=st.data(),
)
def test_damaged_zip_bytes(compression: int, data: st.DataObject):
    damaged = data.draw(damaged_bytes(valid_archive(compression)), label="archive")
    with tempfile.TemporaryDirectory() as root:
        archive = Path(root) / "ml-100k.zip"
        archive.write_bytes(damaged)

        assert_zip_outcome(archive)


# --- Deterministic cases that crashed or loaded wrongly before the loader checked them ---


def test_int64_overflow_names_line():
    # pandas raised OverflowError for this value, and read 2**63 into a uint64 column.
    files = base_files()
    files["u.data"] = encode_lines(BASE_RATINGS[:2] + ["1\t10\t3\t99999999999999999999"] + BASE_RATINGS[2:])

    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / "u.data", 3)
    assert "'99999999999999999999' does not fit in a 64-bit integer" in str(caught.value)


def test_nul_byte_names_line():
    # pandas ended the field at a NUL byte and loaded the zip code "554".
    files = base_files()
    files["u.user"] = encode_lines(BASE_USERS[:1] + ["4|20|M|other|554\x0014"] + BASE_USERS[1:])

    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / "u.user", 2)
    assert "NUL byte" in str(caught.value)


def test_lone_carriage_return_line():
    # pandas treated a lone \r as a line break and reported a wrong field.
    files = base_files()
    files["u.item"] = encode_lines(BASE_ITEMS[:3] + [BASE_ITEMS[3].replace("unknown", "un\rknown")])

    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / "u.item", 4)
    assert "carriage return" in str(caught.value)


@pytest.mark.parametrize("name", ML100K_FILES)
def test_empty_file_rejected(name: str):
    files = base_files()
    files[name] = b""

    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / name, None)
    assert "empty" in str(caught.value)


def test_utf16_file_rejected():
    files = base_files()
    files["u.item"] = "\n".join(BASE_ITEMS).encode("utf-16")

    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / "u.item", None)
    assert "UTF-16" in str(caught.value)


def test_utf8_title_decoded():
    files = base_files()
    files["u.item"] = encode_lines(BASE_ITEMS, "utf-8")

    with ml_folder(files) as folder:
        raw = load_ml100k(folder)

    assert raw.items["title"].iloc[1] == "Misérables, Les (1995)"


def test_latin1_after_utf8_bom_names_line():
    files = base_files()
    files["u.item"] = encode_lines(BASE_ITEMS, "latin-1", bom=True)

    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / "u.item", 2)
    assert "invalid UTF-8 byte 0xe9" in str(caught.value)


def test_unknown_item_in_ratings_line():
    # The loader used to accept a rating of an item that u.item does not list.
    files = base_files()
    files["u.data"] = encode_lines(BASE_RATINGS + ["2\t50\t4\t891717742"])

    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder)

    assert_error_at(caught.value, folder / "u.data", 5)
    assert "item_id 50 is not listed in u.item" in str(caught.value)


def test_zip_bad_crc_rejected(tmp_path: Path):
    # zipfile.BadZipFile escaped from archive.read before.
    data = bytearray(valid_archive(zipfile.ZIP_STORED))
    offset = data.index(b"881250949")
    data[offset] = ord("7")
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(bytes(data))

    with pytest.raises(DataError) as caught:
        load_ml100k(archive)

    assert_error_at(caught.value, archive, None)
    assert "Bad CRC-32" in str(caught.value)
    assert "ml-100k/u.data" in str(caught.value)


def test_zip_folder_member_named(tmp_path: Path):
    archive = tmp_path / "ml-100k.zip"
    members = [("ml-100k/u.data/", None)] + [("ml-100k/" + name, data) for name, data in base_files().items()][1:]
    write_archive(archive, members, zipfile.ZIP_DEFLATED)

    with pytest.raises(DataError) as caught:
        load_ml100k(archive)

    assert_error_at(caught.value, archive, None)
    assert "ml-100k/u.data/ is a folder" in str(caught.value)


def test_file_path_not_zip():
    files = base_files()
    with ml_folder(files) as folder, pytest.raises(DataError) as caught:
        load_ml100k(folder / "u.data")

    assert_error_at(caught.value, folder / "u.data", None)
    assert "invalid zip archive" in str(caught.value)


def test_folder_in_place_of_file():
    files = base_files()
    with ml_folder(files) as folder:
        (folder / "u.user").unlink()
        (folder / "u.user").mkdir()

        with pytest.raises(DataError) as caught:
            load_ml100k(folder)

        assert_error_at(caught.value, folder / "u.user", None)
        assert "not a regular file" in str(caught.value)
