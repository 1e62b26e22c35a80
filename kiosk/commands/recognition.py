"""CLI: enroll, identify, people, eval-pairs."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from kiosk.cli import UserError
from kiosk.config import Settings
from kiosk.gallery import Gallery, GalleryError
from kiosk.gallery import open_gallery as gallery_from_settings
from kiosk.names import clean_name, is_text, one_line, printable


def open_gallery(settings: Settings) -> Gallery:
    """The gallery named by the settings (``--db`` overrides), with user-facing errors."""
    try:
        return gallery_from_settings(settings)
    except GalleryError as exc:
        raise UserError(str(exc)) from exc


def _encoder(settings: Settings) -> Any:
    from kiosk.recognize import FaceEncoder, load_models

    return FaceEncoder(load_models(settings), settings)


def cmd_enroll(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.recognize import ImageError, read_image

    try:
        name = clean_name(args.name, "--name")
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    external_id = (args.external_id or "").strip() or None
    if external_id is not None and not is_text(external_id):
        raise UserError(
            f"--external-id {printable(external_id)!r} is not valid UTF-8 text; "
            "give the id as it is written on the roster"
        )
    frames = []
    for image in args.images:  # every file is checked before the slow models load
        try:
            frames.append(read_image(image, max_bytes=settings.recognition.max_photo_bytes,
                                     max_pixels=settings.recognition.max_photo_pixels))
        except ImageError as exc:
            raise UserError(f"{exc}; nothing was enrolled") from exc
    with open_gallery(settings) as gallery:
        if external_id and gallery.person_by_external_id(external_id):
            raise UserError(f"the external id {external_id!r} is already enrolled")
        encoder = _encoder(settings)
        samples = []
        for image, frame_bgr in zip(args.images, frames):
            try:
                samples.append(encoder.encode_photo(frame_bgr, printable(image), single=True))
            except ImageError as exc:
                raise UserError(f"{exc}; nothing was enrolled") from exc
        recognition = settings.recognition
        for sample, image in zip(samples, args.images):
            found = gallery.lookalike(
                sample.embedding, recognition.distance_threshold, recognition.min_margin
            )
            if found is None:
                continue
            match, other_name = found
            message = (
                f"{printable(image)} looks like person {match.person_id} ({other_name}), "
                f"distance {match.distance:.3f}"
            )
            if not args.allow_duplicate:
                raise UserError(
                    f"{message}; nothing was enrolled. If {name} is another person, enrol again "
                    "with --allow-duplicate; to add photos of that person, use enroll-folder "
                    "or the people manager"
                )
            print(f"warning: {message}; enrolled as {name} (--allow-duplicate)", file=sys.stderr)
        try:
            person_id = gallery.add_person(
                name, [s.embedding for s in samples], [s.crop_jpeg() for s in samples],
                external_id=external_id, actor="cli",
            )
        except (ValueError, GalleryError) as exc:
            raise UserError(f"{exc}; nothing was enrolled") from exc
        print(person_id)
        return 0


def identify_images(
    images: list[str], settings: Settings, gallery: Gallery, encoder: Any
) -> list[dict[str, Any]]:
    """The identify result of each image (see ``identify --json``); a bad file gets its
    ``error`` and the next one is processed."""
    from kiosk.recognize import ImageError

    results = []
    for image in images:
        row: dict[str, Any] = {
            "image": printable(image), "person_id": None, "name": None, "distance": None,
            "margin": None, "error": None,
        }
        try:
            sample = encoder.encode_file(image, single=False)
        except ImageError as exc:
            row["error"] = str(exc)
            results.append(row)
            continue
        match = gallery.match(
            sample.embedding, settings.recognition.distance_threshold, settings.recognition.min_margin
        )
        row["distance"] = None if not np.isfinite(match.distance) else round(match.distance, 4)
        row["margin"] = None if not np.isfinite(match.margin) else round(match.margin, 4)
        if match.accepted and match.person_id is not None:
            person = gallery.person(match.person_id)
            row["person_id"] = match.person_id
            row["name"] = person.name if person else None
        results.append(row)
    return results


def identify_summary(results: list[dict[str, Any]]) -> str:
    """One line counting what ``identify`` did."""
    failed = sum(1 for row in results if row["error"])
    named = sum(1 for row in results if row["person_id"] is not None)
    return (f"{len(results)} photos: {named} identified, {len(results) - named - failed} unknown, "
            f"{failed} failed")


def cmd_identify(args: argparse.Namespace, settings: Settings) -> int:
    with open_gallery(settings) as gallery:
        results = identify_images(args.images, settings, gallery, _encoder(settings))
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        print(identify_summary(results), file=sys.stderr)
    else:
        for row in results:
            if row["error"]:
                print(f"{row['image']}: error: {row['error']}")
                continue
            who = f"{one_line(row['name'] or '')} (id {row['person_id']})" if row["person_id"] else "unknown"
            distance = "-" if row["distance"] is None else f"{row['distance']:.3f}"
            margin = "-" if row["margin"] is None else f"{row['margin']:.3f}"
            print(f"{row['image']}: {who}  distance {distance}  margin {margin}")
        print(identify_summary(results))
    return 1 if any(row["error"] for row in results) else 0


def cmd_people_list(args: argparse.Namespace, settings: Settings) -> int:
    with open_gallery(settings) as gallery:
        people = gallery.people(args.search or "")
    if args.json:
        print(json.dumps(
            [{"id": p.id, "name": p.name, "external_id": p.external_id, "images": p.images}
             for p in people], ensure_ascii=False, indent=2,
        ))
    else:
        for p in people:
            print(f"{p.id}\t{one_line(p.name)}\t{one_line(p.external_id or '')}\t{p.images} images")
    return 0


def cmd_people_delete(args: argparse.Namespace, settings: Settings) -> int:
    with open_gallery(settings) as gallery:
        try:
            gallery.delete_person(args.id, actor="cli")
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        except GalleryError as exc:
            raise UserError(f"{exc}; nothing was deleted") from exc
    print(f"deleted person {args.id} and all their face images")
    return 0


def cmd_eval_pairs(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.eval.pairs import evaluate_pairs
    from kiosk.eval.pairs import PairsFormatError

    try:
        report = evaluate_pairs(args.pairs_file, args.root, _encoder(settings), folds=args.folds)
    except PairsFormatError as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"pairs: {report['pairs']} ({report['images']} images)")
        print(f"accuracy: {100 * report['accuracy']:.2f} % +- {100 * report['accuracy_std']:.2f} "
              f"({report['folds']}-fold cross-validated threshold, mean {report['threshold']:.3f})")
        print(f"best single threshold: {report['best_threshold']:.3f} "
              f"(accuracy {100 * report['best_threshold_accuracy']:.2f} % on all pairs)")
        print(f"TAR at FAR=1e-3: {100 * report['tar_at_far_1e3']:.2f} %")
        print(f"images with no face found: {report['no_face']} "
              f"(their pairs count as 'different': distance {report['no_face_distance']})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("enroll", help="enrol a person from one or more photos")
    p.add_argument("--name", required=True)
    p.add_argument("--external-id", default=None)
    p.add_argument(
        "--allow-duplicate", action="store_true",
        help="enrol even when a photo looks like someone already enrolled (another person)",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.set_defaults(handler=cmd_enroll)

    p = subparsers.add_parser("identify", help="name the person in each photo (or unknown)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_identify)

    people = subparsers.add_parser("people", help="list or delete enrolled people")
    people_sub = people.add_subparsers(dest="people_command", metavar="ACTION", required=True)
    p = people_sub.add_parser("list", help="everyone enrolled")
    p.add_argument("--search", default="")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_people_list)
    p = people_sub.add_parser("delete", help="delete a person and all their face data")
    p.add_argument("id", type=int)
    p.set_defaults(handler=cmd_people_delete)

    p = subparsers.add_parser("eval-pairs", help="verification accuracy on a pairs list")
    p.add_argument("pairs_file", metavar="PAIRS_FILE")
    p.add_argument("--root", required=True, metavar="IMAGE_DIR")
    p.add_argument("--folds", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval_pairs)
