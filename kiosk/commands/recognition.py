"""CLI: enroll, identify, people, reembed, eval-pairs, eval-identify."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from kiosk.commands.common import UserError, enrollment_identity
from kiosk.config import Settings
from kiosk.gallery import Gallery, GalleryError
from kiosk.gallery import open_gallery as gallery_from_settings
from kiosk.matching.rule import DlibFirstBand, match_threshold
from kiosk.names import one_line, printable


def open_gallery(settings: Settings) -> Gallery:
    """The gallery named by the settings (``--db`` overrides), with user-facing errors."""
    try:
        return gallery_from_settings(settings)
    except GalleryError as exc:
        raise UserError(str(exc)) from exc


FUSION_HELP = ("fuse FaceNet with dlib's ResNet encoder, or not (--no-fusion: FaceNet alone); "
               "default: [recognition] fusion")


def _with_fusion(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with fusion as ``--fusion`` / ``--no-fusion`` say (unchanged without either)."""
    if args.fusion is None:
        return settings
    return settings.replace("recognition", fusion=bool(args.fusion))


def _encoder(settings: Settings) -> Any:
    from kiosk.face_encoder import FaceEncoder
    from kiosk.stages import load_models

    return FaceEncoder(load_models(settings), settings)


def cmd_enroll(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.images import ImageError, read_image

    name, external_id = enrollment_identity(args.name, args.external_id)
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
        if args.event is not None and gallery.event(args.event) is None:
            raise UserError(f"no event with id {args.event} (see `events list`)")
        from kiosk.enrollment import LookalikeError, encode_photos, enroll

        labels = [printable(image) for image in args.images]
        try:
            samples = encode_photos(_encoder(settings), list(zip(frames, labels)))
            enrolment = enroll(gallery, settings.recognition, name, samples, labels=labels,
                               external_id=external_id, allow_duplicate=args.allow_duplicate,
                               actor="cli")
        except LookalikeError as exc:
            raise UserError(
                f"{exc}. If {name} is another person, enrol again with --allow-duplicate; to "
                "add photos of that person, use enroll-folder or the people manager") from exc
        except (ImageError, ValueError, GalleryError) as exc:
            raise UserError(f"{exc}; nothing was enrolled") from exc
        for found in enrolment.lookalikes:
            print(f"warning: {found.describe()}; enrolled as {name} (--allow-duplicate)",
                  file=sys.stderr)
        person_id = enrolment.person_id
        if args.event is not None:
            try:
                added = gallery.add_to_roster(args.event, name, args.external_id, actor="cli")
            except (ValueError, GalleryError) as exc:
                raise UserError(f"person {person_id} enrolled, but not put on the roster of "
                                f"event {args.event}: {exc}") from exc
            print(f"{'added to' if added else 'already on'} the roster of event {args.event}",
                  file=sys.stderr)
        print(person_id)
        return 0


def cmd_reembed(args: argparse.Namespace, settings: Settings) -> int:
    """Re-embed stored images that lack an embedding of one of the kiosk's models."""
    from kiosk.reembed import reembed_gallery

    settings = _with_fusion(args, settings)
    with open_gallery(settings) as gallery:
        if gallery.read_only:
            raise UserError(f"{gallery.path} is read-only; nothing was re-embedded")
        incomplete = gallery.incomplete_images()
        models = ", ".join(gallery.model_ids)
        if not incomplete:
            if args.json:
                print(json.dumps({"models": list(gallery.model_ids), "incomplete": 0,
                                  "reembedded": 0, "no_crop": [], "failed": [], "re_enrol": []}))
            else:
                print(f"every stored image has an embedding of {models}: nothing to do")
            return 0
        with_crop = sum(1 for image in incomplete if image.has_crop)
        if not args.json:
            print(f"{len(incomplete)} images lack an embedding of {models}; "
                  f"{with_crop} have a stored crop to re-embed from", file=sys.stderr)

        def progress(done: int, total: int) -> None:
            if not args.json:
                print(f"\rre-embedded {done}/{total}", end="", file=sys.stderr, flush=True)

        try:
            report = reembed_gallery(gallery, _encoder(settings) if with_crop else None,
                                     progress=progress, actor="cli")
        except (ValueError, GalleryError) as exc:
            raise UserError(f"{exc}; the batches before this one are stored, run again") from exc
        if with_crop and not args.json:
            print(file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return 0 if not report.people_to_reenroll() else 1
    print(f"{report.reembedded} images re-embedded ({models})")
    for image, reason in report.failed:
        print(f"  image {image.image_id} of {printable(image.name)}: {reason}")
    people = report.people_to_reenroll()
    if people:
        print(f"{len(report.no_crop) + len(report.failed)} images could not be re-embedded "
              "(no stored crop, or an unusable one) and stay out of matching: re-enrol these "
              "people from photos or at the kiosk (enroll, enroll-folder or the people manager):")
        for person_id, name in people:
            print(f"  {person_id}\t{printable(name)}")
        return 1
    return 0


def identify_images(
    images: list[str], settings: Settings, gallery: Gallery, encoder: Any
) -> list[dict[str, Any]]:
    """The identify result of each image (see ``identify --json``); a bad file gets its
    ``error`` and the next one is processed."""
    from kiosk.images import ImageError

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
            sample.embeddings, match_threshold(settings.recognition), settings.recognition.min_margin
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
                # the path once: "photo.jpg: error: no face found"
                error, prefix = row["error"], f"{row['image']}: "
                print(f"{prefix}error: {error[len(prefix):] if error.startswith(prefix) else error}")
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
        print("id\tname\texternal_id\timages")
        for p in people:
            images = "1 image" if p.images == 1 else f"{p.images} images"
            print(f"{p.id}\t{one_line(p.name)}\t{one_line(p.external_id or '')}\t{images}")
        print(f"{len(people)} {'person' if len(people) == 1 else 'people'}", file=sys.stderr)
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
    settings = _with_fusion(args, settings)
    from kiosk.eval.pairs import evaluate_pairs
    from kiosk.eval.pairs import PairsFormatError

    if args.folds is not None and args.folds < 2:
        raise UserError(f"--folds must be at least 2, got {args.folds}")
    try:
        report = evaluate_pairs(args.pairs_file, args.root, _encoder(settings), folds=args.folds)
    except PairsFormatError as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"pairs: {report['pairs']} ({report['images']} images)")
        print(f"accuracy: {100 * report['accuracy']:.2f} % +- {100 * report['accuracy_std']:.2f} "
              f"({report['folds']}-fold cross-validated threshold, mean {report['threshold']:.3f}; "
              f"{'the folds of the file' if report['folds_from'] == 'file' else 'folds dealt in file order'})")
        print(f"best single threshold: {report['best_threshold']:.3f} "
              f"(accuracy {100 * report['best_threshold_accuracy']:.2f} % on all pairs)")
        print(f"TAR at FAR=1e-3: {100 * report['tar_at_far_1e3']:.2f} %")
        print(f"images with no face found: {report['no_face']} "
              f"(their pairs count as 'different': distance {report['no_face_distance']})")
        if report["fusion"]:
            print("the figures above are the fused distance's; each model alone, same run:")
            for model_id, row in report["per_model"].items():
                print(f"  {model_id}: accuracy {100 * row['accuracy']:.2f} % (threshold "
                      f"{row['threshold']:.3f}), TAR at FAR=1e-3 {100 * row['tar_at_far_1e3']:.2f} %")
    return 0


def cmd_eval_identify(args: argparse.Namespace, settings: Settings) -> int:
    settings = _with_fusion(args, settings)
    from kiosk.eval.identify import evaluate_identification

    if args.enrol < 1:
        raise UserError(f"--enrol must be at least 1, got {args.enrol}")
    _people_folder(args.root)  # a bad folder is refused before the models load
    from kiosk.matching.rule import model_weights

    encoder = _encoder(settings)
    if args.cv:
        return _eval_identify_cv(args, settings, encoder)
    recognition = settings.recognition
    fused = encoder.models.dlib_encoder is not None
    weights = None
    if fused:
        weights = model_weights(encoder.models.embedder.model_id,
                                encoder.models.dlib_encoder.model_id, recognition.dlib_weight)
    threshold = match_threshold(recognition, fused)
    try:
        report = evaluate_identification(
            args.root, lambda path: encoder.encode_file_models(path, single=False),
            threshold, recognition.min_margin, args.enrol, weights,
            DlibFirstBand.from_settings(recognition) if fused else None,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"enrolled people: {report['enrolled_people']} ({args.enrol} image(s) each); "
          f"genuine probes: {report['genuine_probes']}; impostor probes: {report['impostor_probes']}")
    kind = "fused distance" if report["fusion"] else "distance"
    print(f"{kind} threshold {report['threshold']:.3f}, margin {report['min_margin']:.3f} (settings):")
    print(f"  right person (DIR): {100 * report['dir']:.2f} %")
    print(f"  wrong person:       {100 * report['wrong_person']:.2f} %")
    print(f"  stranger accepted (FPIR): {100 * report['fpir']:.2f} %")
    print(f"images with no face found: {report['no_face']}")
    if report["fusion"]:
        print(f"decided by dlib's distance alone (dlib first): {report['dlib_only']} of "
              f"{report['genuine_probes'] + report['impostor_probes']} probes")
    print("other thresholds:  threshold   DIR %   wrong %   FPIR %")
    for row in report["trade_off"]:
        print(f"{'':19}{row['threshold']:>9.3f} {100 * row['dir']:>7.2f} "
              f"{100 * row['wrong_person']:>9.2f} {100 * row['fpir']:>8.2f}")
    return 0


def _embeddings_fingerprint(settings: Settings, encoder: Any) -> str:
    """What photos' embeddings depend on: the models, the encoder settings and the code that
    turns a photo into embeddings (a change there re-embeds the cached folder)."""
    import hashlib
    import importlib

    digest = hashlib.sha256()
    models = [encoder.models.embedder.model_id]
    if encoder.models.dlib_encoder is not None:
        models.append(encoder.models.dlib_encoder.model_id)
    recognition = settings.recognition
    digest.update(json.dumps([models, recognition.facenet_backend, recognition.crop_margin,
                              recognition.flip_average]).encode())
    for name in ("kiosk.align", "kiosk.detect", "kiosk.dlib_encoder", "kiosk.embed",
                 "kiosk.face_encoder", "kiosk.landmarks"):
        module = importlib.import_module(name)
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def _people_folder(root: str) -> None:
    """Refuse a folder that is not one sub-folder of photos per person (as a UserError)."""
    from kiosk.eval.identify import people_images

    try:
        people_images(root)
    except ValueError as exc:
        raise UserError(str(exc)) from exc


def _numbers(text: str, option: str, kind: type = int) -> list[Any]:
    """A comma-separated option (``--agree 1,2``) as numbers of ``kind``."""
    try:
        return [kind(part) for part in text.split(",")]
    except ValueError as exc:
        raise UserError(f"{option}: comma-separated numbers, got {text!r}") from exc


def _folder_faces(root: str, cache: str, settings: Settings, encoder: Any) -> Any:
    """Every photo of a folder of people embedded by both models, kept in ``cache`` (an
    ``.npz``; "" none) between runs (:func:`kiosk.eval.identify_cv.embed_folder`).

    Raises:
        ValueError: no face in any photo.
    """
    from kiosk.eval.identify_cv import embed_folder

    return embed_folder(root, lambda path: encoder.encode_file_models(path, single=False),
                        cache or None, _embeddings_fingerprint(settings, encoder))


def cmd_eval_live_identify(args: argparse.Namespace, settings: Settings) -> int:
    from kiosk.eval.live_identify import GROUPS, evaluate

    agree = _numbers(args.agree, "--agree")
    enrol_at = _numbers(args.enrol_at, "--enrol-at", float)
    if args.enrol < 1 or min(agree) < 1 or not all(0.0 <= f <= 1.0 for f in enrol_at):
        raise UserError("--enrol and --agree must be at least 1, --enrol-at in 0..1")
    _people_folder(args.root)  # a bad folder is refused before the models load
    encoder = _encoder(settings)
    try:
        faces = _folder_faces(args.root, args.cache, settings, encoder)
        reports = [evaluate(faces, args.enrol, settings, n, at).as_dict()
                   for at in enrol_at for n in agree]
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for report in reports:
        print(f"{report['people']} people enrolled with {report['enrol']} frame(s) of their first "
              f"recording from {report['enrol_at']:g} along it "
              f"({report['people_with_another_recording']} with another recording); "
              f"{report['agree']} consecutive frame(s) must agree")
        print(f"{'probes':<18} {'frames':>6} {'right':>6} {'wrong':>6} {'accepted':>8} "
              f"{'dlib accepted':>13} {'dlib refused':>12} {'FaceNet ran':>12} | {'groups':>6} "
              f"{'right':>6} {'wrong':>6} {'accepted':>8}")
        for group in GROUPS:
            g = report[group]
            print(f"{group.replace('_', ' '):<18} {g['probes']:>6} {g['right']:>6} {g['wrong']:>6} "
                  f"{g['accepted']:>8} {g['dlib_accepted']:>13} {g['dlib_refused']:>12} "
                  f"{g['facenet']:>5} ({100 * g['facenet_share']:>3.0f} %) | {g['groups']:>6} "
                  f"{g['groups_right']:>6} {g['groups_wrong']:>6} {g['groups_accepted']:>8}")
    return 0


def _eval_identify_cv(args: argparse.Namespace, settings: Settings, encoder: Any) -> int:
    from kiosk.eval.identify_cv import cross_validate

    agree = _numbers(args.agree, "--agree")
    if args.cv < 2 or min(agree) < 1:
        raise UserError("--cv needs at least 2 folds and --agree numbers of at least 1")
    try:
        faces = _folder_faces(args.root, args.cache, settings, encoder)
        recognition = settings.recognition
        rule = (recognition.dlib_weight if recognition.fusion else 0.0,
                match_threshold(recognition), recognition.min_margin)
        band = DlibFirstBand.from_settings(recognition)
        reports = [cross_validate(faces, args.enrol, n, args.cv, stranger_share=args.stranger_share,
                                  settings_rule=rule, settings_band=band) for n in agree]
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(reports, indent=2, ensure_ascii=False))
        return 0
    for report in reports:
        held = report["held_out"]
        print(f"--enrol {report['enrol']}, {report['agree']} photo(s) of a person must agree; "
              f"{report['folds']} folds of people; {report['enrolled_people']} enrolled, "
              f"{held['genuine']} genuine and {held['strangers']} stranger probe groups")
        dlib_first = report["dlib_first_chosen"] is not None
        print("  fold  dlib_weight  threshold  margin  |  held out: right %  wrong %  strangers %"
              + ("  | dlib first: accept_below  reject_from  |  right %  wrong %  strangers %"
                 "  FaceNet %" if dlib_first else ""))
        for fold in report["per_fold"]:
            line = (f"  {fold['fold']:>4} {fold['dlib_weight']:>12.2f} {fold['threshold']:>10.3f} "
                    f"{fold['min_margin']:>7.2f}  | {100 * fold['dir']:>17.1f} "
                    f"{100 * fold['wrong_person']:>8.2f} {100 * fold['fpir']:>12.2f}")
            if dlib_first:
                band, rates = fold["dlib_first"], fold["cascade"]
                line += (f"  | {band['accept_below']:>24.2f} {band['reject_from']:>12.2f}  | "
                         f"{100 * rates['dir']:>7.1f} {100 * rates['wrong_person']:>8.2f} "
                         f"{100 * rates['fpir']:>12.2f} {100 * rates['facenet_share']:>10.1f}")
            print(line)
        print(f"  held out, all folds: right {100 * held['dir']:.1f} % "
              f"(per fold {100 * held['dir_mean']:.1f} +- {100 * held['dir_std']:.1f}), "
              f"wrong {100 * held['wrong_person']:.2f} % ({held['wrong']}), strangers accepted "
              f"{100 * held['fpir']:.2f} % ({held['stranger_accepted']} of {held['strangers']}; "
              f"per fold {100 * held['fpir_mean']:.2f} +- {100 * held['fpir_std']:.2f})")
        if dlib_first:
            rates = held["cascade"]
            print(f"  held out with dlib first: right {100 * rates['dir']:.1f} % "
                  f"(per fold {100 * rates['dir_mean']:.1f} +- {100 * rates['dir_std']:.1f}), "
                  f"wrong {100 * rates['wrong_person']:.2f} % ({rates['wrong']}), strangers "
                  f"accepted {100 * rates['fpir']:.2f} % ({rates['stranger_accepted']} of "
                  f"{rates['strangers']}); {_facenet_share(rates)}")
        chosen = report["chosen"]
        print(f"  chosen on everyone: dlib_weight {chosen['dlib_weight']:.2f}, threshold "
              f"{chosen['threshold']:.3f}, min_margin {chosen['min_margin']:.2f} (on everyone: "
              f"right {100 * chosen['dir']:.1f} %, wrong {100 * chosen['wrong_person']:.2f} %, "
              f"strangers {100 * chosen['fpir']:.2f} %)")
        rule = report["settings"]
        print(f"  the settings' rule (dlib_weight {rule['dlib_weight']:.2f}, threshold "
              f"{rule['threshold']:.3f}, min_margin {rule['min_margin']:.2f}) on everyone: right "
              f"{100 * rule['dir']:.1f} %, wrong {100 * rule['wrong_person']:.2f} % "
              f"({rule['wrong']}), strangers {100 * rule['fpir']:.2f} % ({rule['stranger_accepted']})")
        for label, band in (("dlib first chosen on everyone", report["dlib_first_chosen"]),
                            ("dlib first chosen on everyone for the settings' rule",
                             report["dlib_first_for_settings_rule"]),
                            ("the settings' dlib first", report["dlib_first_settings"])):
            if band is None:
                continue
            rates = band["cascade"]
            print(f"  {label}: accept_below {band['accept_below']:.2f}, reject_from "
                  f"{band['reject_from']:.2f} (margin {band['dlib_min_margin']:.3f}, dlib's "
                  f"distance) on everyone: right {100 * rates['dir']:.1f} %, wrong "
                  f"{100 * rates['wrong_person']:.2f} % ({rates['wrong']}), strangers "
                  f"{100 * rates['fpir']:.2f} % ({rates['stranger_accepted']}); "
                  f"{_facenet_share(rates)}")
    return 0


def _facenet_share(rates: dict[str, Any]) -> str:
    """The share of photos that needed FaceNet, of a cascade's rates."""
    return (f"FaceNet run for {100 * rates['facenet_share']:.1f} % of photos (genuine "
            f"{100 * rates['facenet_share_genuine']:.1f} %, strangers "
            f"{100 * rates['facenet_share_strangers']:.1f} %)")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("enroll", help="enrol a person from one or more photos")
    p.add_argument("--name", required=True)
    p.add_argument("--external-id", default=None)
    p.add_argument("--event", type=int, default=None,
                   help="also put the person on this event's roster (a walk-in)")
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

    p = subparsers.add_parser(
        "reembed",
        help="compute the embeddings stored images lack (after turning fusion on or "
             "changing the FaceNet model)",
        description=(
            "Stored images are matched only when they have an embedding of every model the "
            "kiosk uses (FaceNet, and dlib's encoder with [recognition] fusion). This computes "
            "the missing ones from each image's stored crop, one transaction per batch; "
            "images without a crop are listed by person, to be re-enrolled. Exit status 1 "
            "when some people must be re-enrolled."
        ),
    )
    p.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                   help="as [recognition] fusion = true / false (default: the settings)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_reembed)

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
    p.add_argument(
        "--folds", type=int, default=None,
        help="deal the pairs into N folds (default: the folds the file declares, else 10)",
    )
    p.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                   help=FUSION_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval_pairs)

    p = subparsers.add_parser(
        "eval-identify",
        help="open-set identification on a folder of people (ROOT/<person>/<images>)",
        description=(
            "People with more than K images are enrolled with their first K and probed with "
            "the rest; people with K or fewer are never enrolled and probed with all of theirs. "
            "Prints the share of genuine probes named right (DIR) and wrong, and of strangers "
            "accepted (FPIR), with the kiosk's threshold and margin and a few other thresholds."
        ),
    )
    p.add_argument("root", metavar="ROOT")
    p.add_argument("--enrol", type=int, default=1, metavar="K", help="images enrolled per person (default 1)")
    p.add_argument("--fusion", action=argparse.BooleanOptionalAction, default=None,
                   help=FUSION_HELP)
    p.add_argument("--cv", type=int, default=0, metavar="FOLDS",
                   help="choose dlib's weight, the threshold and the margin by cross-validation "
                        "over this many folds of people and report the held-out folds "
                        "(docs/RECOGNITION.md); 0: the settings' rule (default)")
    p.add_argument("--agree", default="1", metavar="N[,N...]",
                   help="with --cv: photos of one person taken together that must all accept "
                        "the same person, like the kiosk's agree_frames (default 1)")
    p.add_argument("--stranger-share", type=float, default=1 / 3, metavar="SHARE",
                   help="with --cv: share of the people with enough photos kept back as "
                        "strangers, so that strangers come with several photos (default 1/3)")
    p.add_argument("--cache", default="", metavar="FILE",
                   help="with --cv: an .npz file keeping the photos' embeddings between runs "
                        "(re-embedded when the models or the encoder code change)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval_identify)

    p = subparsers.add_parser(
        "eval-live-identify",
        help="live camera frames against people enrolled from other frames (NUAA's layout)",
        description=(
            "ROOT/<person>/<frames>, a frame's recording being its file name up to the last "
            "'_'. Each person is enrolled with the first K frames of their first recording; "
            "their other frames of that recording and of other recordings are matched with the "
            "kiosk's gallery and rule, and every person's frames against everyone else as a "
            "stranger. Prints right / wrong / strangers accepted and how many decisions dlib's "
            "distance settled alone (kiosk/eval/live_identify.py)."
        ),
    )
    p.add_argument("root", metavar="ROOT")
    p.add_argument("--enrol", type=int, default=3, metavar="K",
                   help="frames enrolled per person (default 3, as the enrolment dialog)")
    p.add_argument("--agree", default="1", metavar="N[,N...]",
                   help="consecutive frames that must name the same person, like the kiosk's "
                        "agree_frames (default 1; several: one report each)")
    p.add_argument("--enrol-at", default="0", metavar="F[,F...]",
                   help="where in the first recording the enrolment frames start, 0 (its first "
                        "frames, the default) to 1 (its last); several: one report each")
    p.add_argument("--cache", default="", metavar="FILE",
                   help="an .npz file keeping the frames' embeddings between runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_eval_live_identify)
