"""Event rosters (who is expected) and attendance lists (who came), as CSV for Excel users.

A roster is read from a CSV file with a header line: ``external_id,name`` (either order, other
columns ignored), ``name`` alone, or the usual Chinese headers ``工号`` / ``姓名``. Files saved by
Excel come as UTF-8 with or without a byte-order mark, or in the Chinese Windows code page
(GBK; read as its superset GB18030). Every bad row is refused with its line number; nothing is
imported from a file with a bad row.

The attendance list joins an event's roster with its check-ins: by the person's external id when
the roster has one, else by name. People who checked in without being on the roster are listed
too (``on_roster`` False). :func:`write_attendance_csv` writes UTF-8 with a byte-order mark, so
Excel shows Chinese names intact; :func:`write_attendance_xlsx` writes an Excel workbook whose
check-in times are real date-time cells in the event's local time. Rosters can be ``.xlsx``
workbooks too (:func:`read_roster_file`).

Exports never replace the gallery, its WAL/SHM files, the settings or any file that is not an
attendance export the kiosk wrote (:func:`check_export_target`), and are written atomically.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk.settings_files import LOCAL_SETTINGS
from kiosk.files import atomic_write
from kiosk.gallery import Gallery, parse_time
from kiosk.names import clean_name

MAX_ROSTER_BYTES = 20_000_000  # a roster of 100,000 people is ~3 MB
MAX_EXTERNAL_ID_CHARS = 100
EXTERNAL_ID_HEADERS = ("external_id", "external id", "id", "工号", "编号", "学号", "员工编号")
NAME_HEADERS = ("name", "姓名", "名字")
ATTENDANCE_COLUMNS = ("external_id", "name", "status", "at", "method", "distance", "liveness")
DOOR_COLUMN = "door"  # added after the others when the rows come from every door
STATUS_ARRIVED = "arrived"
STATUS_MISSING = "missing"
# Cells starting with these are run as formulas by Excel and LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


EXPORT_SUFFIXES = (".csv", ".xlsx")
XLSX_EXPORT_TITLE = "face-checkin-kiosk attendance"  # marks workbooks this kiosk wrote
LOCAL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_ROSTER_ROWS = 200_000


class RosterError(ValueError):
    """A roster file that cannot be imported; the message names the file and the line."""


class ExportRefused(ValueError):
    """An export target that must not be written (the gallery, settings, a foreign file)."""


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One expected attendee.

    Attributes:
        external_id: the organisation's id (staff number...), or None when the roster has none.
        name: the name as written in the roster.
    """

    external_id: str | None
    name: str


def name_key(name: str) -> str:
    """The form of a name used to compare names: NFKC, case-folded, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def decode_roster_bytes(data: bytes, source: str = "roster") -> str:
    """Text of a roster file: UTF-8 (with or without BOM), else GB18030 (GBK, Excel in China).

    Raises:
        RosterError: neither encoding fits.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise RosterError(
            f"{source}: the file is neither UTF-8 nor GBK text; save it from Excel as "
            "'CSV UTF-8 (comma delimited)'"
        ) from exc


def _header_columns(header: Sequence[str], source: str, line: int) -> tuple[int | None, int]:
    """Positions of the external id and name columns in a header row."""
    keys = [name_key(cell) for cell in header]
    id_index = next((i for i, key in enumerate(keys) if key in EXTERNAL_ID_HEADERS), None)
    name_index = next((i for i, key in enumerate(keys) if key in NAME_HEADERS), None)
    if name_index is None:
        raise RosterError(
            f"{source}: line {line}: the first line must be a header with a name column, "
            f"such as 'external_id,name' or '工号,姓名' (found {','.join(header)!r})"
        )
    return id_index, name_index


def parse_roster_text(text: str, source: str = "roster") -> list[RosterEntry]:
    """Roster entries from CSV text (see :func:`read_roster_csv`).

    Raises:
        RosterError: naming ``source`` and the line of the first bad row.
    """
    if "\x00" in text:
        raise RosterError(f"{source}: the file holds binary data (NUL bytes); it is not a CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    entries: list[RosterEntry] = []
    first_line_of_id: dict[str, int] = {}
    first_line_of_anonymous_name: dict[str, int] = {}
    columns: tuple[int | None, int] | None = None
    width = 0
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank line
            if columns is None:
                columns = _header_columns(row, source, line)
                width = len(row)
                continue
            if len(row) < width or any(cell.strip() for cell in row[width:]):
                raise RosterError(
                    f"{source}: line {line}: {len(row)} columns where the header has {width}"
                )
            id_index, name_index = columns
            external_id = row[id_index].strip() if id_index is not None else ""
            try:
                name = clean_name(" ".join(row[name_index].split()))
            except ValueError as exc:
                raise RosterError(f"{source}: line {line}: {exc}") from None
            if len(external_id) > MAX_EXTERNAL_ID_CHARS:
                raise RosterError(
                    f"{source}: line {line}: the external id is longer than "
                    f"{MAX_EXTERNAL_ID_CHARS} characters"
                )
            if external_id:
                if external_id in first_line_of_id:
                    raise RosterError(
                        f"{source}: line {line}: the external id {external_id!r} is already used "
                        f"on line {first_line_of_id[external_id]}"
                    )
                first_line_of_id[external_id] = line
            else:
                key = name_key(name)
                if key in first_line_of_anonymous_name:
                    raise RosterError(
                        f"{source}: line {line}: {name!r} is already on line "
                        f"{first_line_of_anonymous_name[key]}; give both an external id to tell "
                        "them apart"
                    )
                first_line_of_anonymous_name[key] = line
            entries.append(RosterEntry(external_id or None, name))
    except csv.Error as exc:
        raise RosterError(f"{source}: line {reader.line_num}: not valid CSV: {exc}") from exc
    if columns is None:
        raise RosterError(f"{source}: the file is empty; expected a header such as 'external_id,name'")
    return entries


def read_roster_csv(path: str | Path) -> list[RosterEntry]:
    """Read a roster CSV file (header ``external_id,name``, ``name``, or ``工号,姓名``).

    Args:
        path: the CSV file.

    Returns:
        The entries in file order (the header and blank lines skipped).

    Raises:
        RosterError: unreadable or too large file, unknown encoding, no header, or a bad row
            (empty name, duplicate external id, wrong column count), naming the line.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: the file is too large for a roster ({size} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_roster_text(decode_roster_bytes(data, str(path)), str(path))


def read_roster_xlsx(path: str | Path) -> list[RosterEntry]:
    """Read a roster from the first sheet of an Excel workbook (same header rules as CSV).

    Raises:
        RosterError: unreadable or too large file, not a workbook, or a bad row (naming the row).
    """
    import openpyxl

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_ROSTER_BYTES:
            raise RosterError(f"{path}: the file is too large for a roster ({size} bytes)")
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except RosterError:
        raise
    except OSError as exc:
        raise RosterError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise RosterError(f"{path}: not an Excel .xlsx workbook: {exc}") from exc
    try:
        sheet = workbook.worksheets[0]
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        for number, row in enumerate(sheet.iter_rows(values_only=True), 1):
            if number > MAX_ROSTER_ROWS:
                raise RosterError(f"{path}: more than {MAX_ROSTER_ROWS} rows")
            writer.writerow([_xlsx_text(value) for value in row])
    finally:
        workbook.close()
    return parse_roster_text(buffer.getvalue(), str(path))


def _xlsx_text(value: Any) -> str:
    """A roster cell as text: 1001.0 -> "1001", None -> ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).replace("\n", " ")


def read_roster_file(path: str | Path) -> list[RosterEntry]:
    """A roster from a ``.xlsx`` workbook or a CSV file (by the file name's ending)."""
    if Path(path).suffix.lower() == ".xlsx":
        return read_roster_xlsx(path)
    return read_roster_csv(path)


def import_roster(
    gallery: Gallery, event_id: int, entries: Sequence[RosterEntry], actor: str = "admin",
) -> int:
    """Replace an event's roster with ``entries`` in one transaction (audit-logged).

    Returns:
        The number of entries stored.

    Raises:
        ValueError: no such event, an empty name or a duplicate external id in ``entries``.
        kiosk.gallery.GalleryError: the database cannot be written (the old roster stays).
    """
    seen: set[str] = set()
    rows: list[tuple[int, str | None, str]] = []
    for number, entry in enumerate(entries, 1):
        external_id = (entry.external_id or "").strip() or None
        try:
            name = clean_name(" ".join((entry.name or "").split()))
        except ValueError as exc:
            raise ValueError(f"roster entry {number}: {exc}") from None
        if external_id is not None:
            if external_id in seen:
                raise ValueError(f"roster entry {number}: duplicate external id {external_id!r}")
            seen.add(external_id)
        rows.append((event_id, external_id, name))
    return gallery.events_table.replace_roster(
        event_id, [(external_id, name) for _, external_id, name in rows], actor
    )


def roster(gallery: Gallery, event_id: int) -> list[RosterEntry]:
    """An event's roster in import order."""
    return [RosterEntry(external_id, name) for external_id, name in
            gallery.events_table.roster(event_id)]


def attendance(
    gallery: Gallery, event_id: int, checkins: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The roster of an event with who arrived, then walk-ins who are not on the roster.

    A roster entry with an external id matches the check-in of the person with that external
    id; failing that (or without an id) one of a person with the same name (compared by
    :func:`name_key`) and no conflicting external id. Each check-in satisfies one entry.

    Returns:
        One dict per row: ``external_id``, ``name``, ``status`` ("arrived" / "missing"), ``at``,
        ``method``, ``distance``, ``liveness``, ``person_id`` (None when missing), ``operator``,
        ``reason`` and ``on_roster``. Roster order first, then walk-ins in check-in order.
        With ``checkins`` of every door, also ``door`` (None for this kiosk's check-ins
        not uploaded yet).

    Args:
        gallery: the roster's gallery.
        event_id: the event.
        checkins: the check-ins to use instead of this gallery's (a connected kiosk passes
            every door's, :meth:`kiosk.sync.SyncClient.attendance`).
    """
    if checkins is None:
        checkins = gallery.checkins(event_id)
    unused = dict.fromkeys(range(len(checkins)))  # in check-in order, O(1) to test and remove
    by_external_id = {c["external_id"]: i for i, c in enumerate(checkins) if c["external_id"]}
    by_name: dict[str, list[int]] = {}
    for index, checkin in enumerate(checkins):
        by_name.setdefault(name_key(checkin["name"]), []).append(index)
    rows: list[dict[str, Any]] = []

    def take(index: int) -> dict[str, Any]:
        del unused[index]
        return checkins[index]

    for entry in roster(gallery, event_id):
        found: dict[str, Any] | None = None
        if entry.external_id is not None and by_external_id.get(entry.external_id) in unused:
            found = take(by_external_id[entry.external_id])
        else:
            for index in by_name.get(name_key(entry.name), ()):
                other_id = checkins[index]["external_id"]
                if index in unused and (
                    not other_id or entry.external_id is None or other_id == entry.external_id
                ):
                    found = take(index)
                    break
        rows.append(_attendance_row(entry.external_id, entry.name, found, on_roster=True))
    for index in list(unused):
        checkin = take(index)
        rows.append(_attendance_row(checkin["external_id"], checkin["name"], checkin, on_roster=False))
    return rows


def _attendance_row(
    external_id: str | None, name: str, checkin: dict[str, Any] | None, on_roster: bool,
) -> dict[str, Any]:
    present = checkin is not None
    row = {
        "external_id": external_id,
        "name": name,
        "status": STATUS_ARRIVED if present else STATUS_MISSING,
        "at": checkin["at"] if present else None,
        "method": checkin["method"] if present else None,
        "distance": checkin["distance"] if present else None,
        "liveness": checkin["liveness"] if present else None,
        "person_id": checkin["person_id"] if present else None,
        "operator": checkin["operator"] if present else None,
        "reason": checkin["reason"] if present else None,
        "on_roster": on_roster,
    }
    if present and "door" in checkin:
        row["door"] = checkin["door"]
    return row


def attendance_counts(rows: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Counts for the staff screen: ``expected`` (on the roster), ``arrived`` (everyone who
    came), ``arrived_expected`` (of those on the roster), ``missing``, ``walk_ins`` (arrived,
    not on the roster)."""
    counts = {"expected": 0, "arrived": 0, "arrived_expected": 0, "missing": 0, "walk_ins": 0}
    for row in rows:
        counts["expected"] += int(row["on_roster"])
        counts["arrived"] += int(row["status"] == STATUS_ARRIVED)
        counts["arrived_expected"] += int(row["status"] == STATUS_ARRIVED and row["on_roster"])
        counts["missing"] += int(row["status"] == STATUS_MISSING)
        counts["walk_ins"] += int(not row["on_roster"])
    return counts


def local_time(iso_time: str | None) -> dt.datetime | None:
    """An ISO time (any offset) as a naive local date-time (what Excel shows), None if absent."""
    if not iso_time:
        return None
    return parse_time(iso_time).astimezone().replace(tzinfo=None, microsecond=0)


def _cell(value: Any, column: str = "") -> str:
    """One CSV cell: times local and readable, numbers to 3 decimals, None empty,
    formula-like text neutralised."""
    if value is None:
        return ""
    if column == "at":
        with contextlib.suppress(ValueError, TypeError):
            return local_time(str(value)).strftime(LOCAL_TIME_FORMAT)
    if isinstance(value, float):
        return f"{value:.3f}"
    return _neutralised(str(value))


def _neutralised(text: str) -> str:
    """Text that Excel would run as a formula, prefixed with ``'`` (shown as text instead)."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _columns(rows: list[dict[str, Any]]) -> tuple[str, ...]:
    """The export's columns: :data:`ATTENDANCE_COLUMNS`, then ``door`` when the rows come
    from every door (a connected kiosk's staff panel)."""
    if any(DOOR_COLUMN in row for row in rows):
        return (*ATTENDANCE_COLUMNS, DOOR_COLUMN)
    return ATTENDANCE_COLUMNS


def write_attendance_csv(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write an attendance list as CSV for Excel (UTF-8 with BOM), atomically.

    Columns: ``external_id,name,status,at,method,distance,liveness`` (and ``door`` for rows
    of every door); ``at`` is the local time
    as ``2026-11-23 09:02:05`` (Excel reads it as a date and time). Text that Excel would
    run as a formula (starting with ``=``, ``+``, ``-``, ``@``) is prefixed with ``'``. The
    file is written next to ``path`` and renamed into place, so a crash never leaves half a
    list; it is readable by its owner only (mode 0600), as it holds personal data.

    Args:
        path: the CSV file to create or replace.
        rows: dicts with at least the columns above (as :func:`attendance` returns).

    Returns:
        The number of data rows written.

    Raises:
        OSError: the folder is missing or not writable, or the disk is full.
    """
    path = Path(path)
    rows = list(rows)
    columns = _columns(rows)
    written = 0
    with atomic_write(path, "w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\r\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(column), column) for column in columns])
            written += 1
    return written


def write_attendance_xlsx(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write an attendance list as an Excel workbook, atomically (mode 0600).

    Same columns as :func:`write_attendance_csv`; ``at`` holds real date-time cells in local
    time (format ``yyyy-mm-dd hh:mm:ss``), distance and liveness are numbers, names stay
    Unicode text. The workbook's title marks it as this kiosk's export. Returns the number of
    data rows written and raises OSError as :func:`write_attendance_csv` does.
    """
    import openpyxl

    path = Path(path)
    rows = list(rows)
    columns = _columns(rows)
    workbook = openpyxl.Workbook()
    workbook.properties.title = XLSX_EXPORT_TITLE
    sheet = workbook.active
    sheet.title = "attendance"
    sheet.append(list(columns))
    written = 0
    for row in rows:
        values: list[Any] = []
        for column in columns:
            value = row.get(column)
            if column == "at":
                value = local_time(value) if value else None
            elif isinstance(value, str):
                value = _neutralised(value)
            values.append(value)
        sheet.append(values)
        written += 1
        sheet.cell(row=written + 1, column=ATTENDANCE_COLUMNS.index("at") + 1).number_format = \
            "yyyy-mm-dd hh:mm:ss"
    sheet.column_dimensions["B"].width = 24
    sheet.column_dimensions["D"].width = 20
    with atomic_write(path, "wb") as stream:
        workbook.save(stream)
    return written


def is_kiosk_export(path: str | Path) -> bool:
    """Whether ``path`` is an attendance export this kiosk wrote (CSV header or xlsx title)."""
    path = Path(path)
    try:
        if path.suffix.lower() == ".xlsx":
            with zipfile.ZipFile(path) as archive:
                core = archive.read("docProps/core.xml").decode("utf-8", "replace")
            return f">{XLSX_EXPORT_TITLE}<" in core
        with open(path, "rb") as stream:
            head = stream.read(200)
    except (OSError, zipfile.BadZipFile, KeyError):
        return False
    header = ",".join(ATTENDANCE_COLUMNS).encode("ascii")
    return head.startswith(b"\xef\xbb\xbf" + header)


def check_export_target(
    path: str | Path, protected: Iterable[str | Path] = (), replace: bool = False,
) -> Path:
    """Check that an attendance export may be written to ``path``.

    Args:
        path: where the export goes (``.csv`` or ``.xlsx``).
        protected: files that must never be written (the gallery, the settings files); their
            SQLite companions (``-wal``, ``-shm``, ``-journal``) are protected too.
        replace: the user confirmed replacing an existing export.

    Returns:
        The path, resolved.

    Raises:
        ExportRefused: ``path`` is protected, not ``.csv``/``.xlsx``, a folder, or an existing
            file that is not an export of this kiosk.
        FileExistsError: an existing export and ``replace`` is False (ask the user first).
    """
    target = Path(path).expanduser().resolve()
    if target.suffix.lower() not in EXPORT_SUFFIXES:
        raise ExportRefused(f"{path}: exports are written as .csv or .xlsx files")
    for item in protected:
        base = Path(item).expanduser().resolve()
        guarded = {base, *(base.with_name(base.name + s) for s in ("-wal", "-shm", "-journal"))}
        if target in guarded:
            raise ExportRefused(f"{path}: this is the kiosk's own file ({base.name}); "
                                "choose another name")
    if target.is_dir():
        raise ExportRefused(f"{path}: is a folder")
    if target.exists() or target.is_symlink():
        if target.is_symlink() or not target.is_file() or not is_kiosk_export(target):
            raise ExportRefused(f"{path}: the file exists and is not an attendance export of "
                                "this kiosk; choose a new name")
        if not replace:
            raise FileExistsError(f"{path}: the file exists; confirm to replace it")
    return target


def export_attendance(
    path: str | Path, rows: Iterable[dict[str, Any]], protected: Iterable[str | Path] = (),
    replace: bool = False,
) -> int:
    """Check the target (:func:`check_export_target`) and write CSV or xlsx by its ending.

    Returns:
        The number of data rows written.

    Raises:
        ExportRefused, FileExistsError: see :func:`check_export_target` (nothing written).
        OSError: the folder is missing or not writable, or the disk is full.
    """
    target = check_export_target(path, protected, replace)
    if target.suffix.lower() == ".xlsx":
        return write_attendance_xlsx(target, rows)
    return write_attendance_csv(target, rows)


def protected_files(gallery: Gallery, *settings_files: str | Path) -> list[Path]:
    """The kiosk's own files that no export may replace: the gallery (and its WAL/SHM, see
    :func:`check_export_target`), ``settings.toml``, the site's settings and any other
    settings file in use."""
    return [Path(gallery.path), Path("settings.toml"), LOCAL_SETTINGS,
            *(Path(p) for p in settings_files)]


def export_event_attendance(
    gallery: Gallery, event_id: int, path: str | Path, actor: str,
    settings_files: Sequence[str | Path] = (), replace: bool = False,
    rows: list[dict[str, Any]] | None = None,
) -> int:
    """Export an event's attendance to ``path`` (``.csv`` or ``.xlsx``) and audit-log it.

    Args:
        rows: the rows to write (what the staff panel shows: every door's on a connected
            kiosk); default :func:`attendance` of this gallery.

    Raises:
        ExportRefused: the target is one of :func:`protected_files` or a foreign file.
        FileExistsError: an earlier export is there and ``replace`` is False.
        OSError: the file cannot be written.
    """
    if rows is None:
        rows = attendance(gallery, event_id)
    count = export_attendance(path, rows, protected_files(gallery, *settings_files), replace)
    gallery.record_action(actor, "export attendance", event_id=event_id, rows=count,
                       file=Path(path).name)
    return count
