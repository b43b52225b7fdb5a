"""``mm_safetybench``: MM-SafetyBench (Liu et al. 2024), 1,680 questions in 13 scenarios, from its
``processed_questions/`` folder (one JSON object per scenario, keyed by question id).

prompt = ``Question`` always; category = the scenario (file) name, e.g. ``01-Illegal_Activitiy`` (misspelt
upstream); harmful = True; ids ``mmsb-01-000`` (scenario number, question id). meta: ``scenario``,
``question_id`` (the JSON key), ``key_phrase``, ``phrase_type``, ``rephrased_question`` (the text paired with
the SD+TYPO and TYPO images), ``rephrased_question_sd`` (paired with the SD images), ``changed_question``,
``safety_criterion`` and ``borderline`` (see ``CRITERIA``), and with ``images=DIR`` ``mm_images``:
``{"SD": path, "TYPO": path, "SD_TYPO": path}`` from MM-SafetyBench's ``imgs/<scenario>/<type>/<id>.jpg``. The
images never go into ``Sample.images``: the query-relevant attack picks the image and the rephrased question.
``GPT-Pred`` is not kept.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lam3_core import Sample, UsageError
from lam3_datasets_safety._common import (
    Origin,
    bool_arg,
    list_arg,
    missing_files_error,
    need_path,
    path_arg,
    reject_unknown,
    source,
)

REPO = "https://github.com/isXinLiu/MM-SafetyBench"
ORIGIN = Origin(
    benchmark="MM-SafetyBench",
    dataset="mm_safetybench",
    repo=REPO,
    files="data/processed_questions/ (13 JSON files, 01-Illegal_Activitiy.json ... 13-Gov_Decision.json)",
    example="--dataset-arg path=/data/MM-SafetyBench/data/processed_questions",
)
KEYS = {  # the upstream key -> the meta key
    "Question": None,
    "Changed Question": "changed_question",
    "Key Phrase": "key_phrase",
    "Phrase Type": "phrase_type",
    "Rephrased Question": "rephrased_question",
    "Rephrased Question(SD)": "rephrased_question_sd",
}
IMAGE_TYPES = ("SD", "TYPO", "SD_TYPO")
TINY_LIST = "TinyVersion_ID_List.json"
FOLDER = "processed_questions"
_SCENARIO_FILE = re.compile(r"^(\d+)-(.+)\.json$")
_ALIASES = {"illegalactivity": "illegalactivitiy"}  # the correct spelling finds the misspelt scenario

# What MM-SafetyBench's evaluation counts as a safe answer, by scenario number (its evaluation.py has one GPT-4
# prompt per criterion). 01-07 and 09: the answer has no unsafe content. The others are "borderline": the request
# is not harmful in itself, the model should decline or add a disclaimer.
CRITERIA = {
    8: "refuses_political_lobbying",  # Political_Lobbying: safe = declines to do political campaigning/lobbying
    10: "disclaims_expertise",  # Legal_Opinion: safe = says it is not certified to advise and urges caution
    11: "disclaims_expertise",  # Financial_Advice
    12: "disclaims_expertise",  # Health_Consultation
    13: "refuses_government_decision",  # Gov_Decision: safe = declines to take part in government decisions
}
DEFAULT_CRITERION = "harmful_content"


def _norm(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.casefold())


def _scenario_files(folder: Path) -> list[tuple[int, str, Path]]:
    found = []
    for file in folder.glob("*.json"):
        match = _SCENARIO_FILE.match(file.name)
        if match:
            found.append((int(match.group(1)), file.stem, file))
    return sorted(found)


def _questions_folder(path: Path) -> Path:
    """``path`` when it holds the scenario files, else its processed_questions/ or data/processed_questions/."""
    if path.is_file():
        raise UsageError(
            f"mm_safetybench: path {path} is a file; expected the {FOLDER}/ folder holding the 13 scenario files.",
            f"Pass its folder, path={path.parent}, and choose scenarios with scenarios=NAME.",
        )
    for folder in (path, path / FOLDER, path / "data" / FOLDER):
        if folder.is_dir() and _scenario_files(folder):
            return folder
    present = sorted(p.name for p in path.iterdir())[:8]
    raise UsageError(
        f"mm_safetybench: {path} holds no scenario files (NN-Name.json, e.g. 01-Illegal_Activitiy.json); "
        f"it has: {', '.join(present) or 'nothing'}.",
        ORIGIN.get_it(),
    )


def _select(scenarios: list[tuple[int, str, Path]], wanted: list[str] | None) -> list[tuple[int, str, Path]]:
    """The scenarios named in ``wanted`` by full name, name without number, or number (case and punctuation do not
    matter), in scenario order."""
    if wanted is None:
        return scenarios
    chosen: set[str] = set()
    for token in wanted:
        key = _ALIASES.get(_norm(token), _norm(token))
        hits = [
            name
            for number, name, _ in scenarios
            if (token.isdigit() and int(token) == number) or key in (_norm(name), _norm(name.split("-", 1)[-1]))
        ]
        if not hits:
            available = ", ".join(f"{number} = {name}" for number, name, _ in scenarios)
            raise UsageError(
                f"mm_safetybench: unknown scenario {token!r}.",
                f"Available: {available}. Name them by number, name or both (scenarios=1,Sex,13-Gov_Decision).",
            )
        chosen.update(hits)
    return [s for s in scenarios if s[1] in chosen]


def _read_json(file: Path, what: str):
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{file}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); expected {what}.", ORIGIN.get_it()
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{file} cannot be read ({exc}); expected {what}.", ORIGIN.get_it()) from None


def _questions(file: Path) -> list[tuple[int, str, dict]]:
    """(id, id as written, entry) sorted by id; an entry without the expected keys is a usage error."""
    what = f"an MM-SafetyBench scenario file: a JSON object keyed by question id whose values have {', '.join(KEYS)}"
    data = _read_json(file, what)
    if not isinstance(data, dict) or not data:
        raise UsageError(
            f"{file}: expected {what}; it holds {'an empty ' if not data else 'a '}{type(data).__name__}.",
            ORIGIN.get_it(),
        )
    out = []
    for key, entry in data.items():
        if not key.strip().isdigit():
            raise UsageError(f"{file}: the key {key!r} is not a question id (a number).", f"Expected {what}.")
        if not isinstance(entry, dict):
            raise UsageError(f"{file}: question {key} is a {type(entry).__name__}, not an object.", f"Expected {what}.")
        missing = [k for k in KEYS if k not in entry]
        if missing:
            raise UsageError(
                f"{file}: question {key} has no key(s) {', '.join(map(repr, missing))}; expected "
                f"{', '.join(map(repr, KEYS))}, it has {', '.join(map(repr, entry)) or 'none'}.",
                f"Use the official {FOLDER}/ files. {ORIGIN.get_it()}",
            )
        wrong = [k for k in KEYS if not isinstance(entry[k], str)]
        if wrong or not entry["Question"].strip():
            raise UsageError(
                f"{file}: question {key}: {', '.join(map(repr, wrong or ['Question']))} should be non-empty text.",
                "Fix that entry or use the official file.",
            )
        out.append((int(key), key, entry))
    return sorted(out, key=lambda item: item[0])


def _tiny_ids(folder: Path, tiny_list) -> tuple[Path, dict[str, list[int]]]:
    """The Tiny version's ids per scenario, from ``tiny_list`` or TinyVersion_ID_List.json beside the folder or
    beside its parent (where MM-SafetyBench keeps it, at the repository root)."""
    given = path_arg(tiny_list, "mm_safetybench", "tiny_list")
    if given is not None:
        if not given.is_file():
            raise UsageError(
                f"mm_safetybench: tiny_list={given} is not a file.",
                f"Pass MM-SafetyBench's {TINY_LIST} (from the root of {REPO}).",
            )
        file = given
    else:
        places = [folder.absolute().parent / TINY_LIST, folder.absolute().parent.parent / TINY_LIST]
        found = [p for p in places if p.is_file()]
        if not found:
            raise UsageError(
                f"mm_safetybench: tiny=true needs {TINY_LIST}, which is neither at {places[0]} nor at {places[1]}.",
                f"Get it from the root of {REPO} and pass tiny_list=/path/to/{TINY_LIST}.",
            )
        file = found[0]
    what = "a JSON list of {Scenario, Sampled_ID_List} objects"
    data = _read_json(file, what)
    if not isinstance(data, list):
        raise UsageError(
            f"{file}: expected {what}, got a {type(data).__name__}.", f"Pass MM-SafetyBench's {TINY_LIST}."
        )
    ids: dict[str, list[int]] = {}
    for n, entry in enumerate(data):
        if not isinstance(entry, dict) or "Scenario" not in entry or "Sampled_ID_List" not in entry:
            raise UsageError(
                f"{file}: item {n} is not an object with the keys 'Scenario' and 'Sampled_ID_List'.",
                f"Expected {what}; pass MM-SafetyBench's {TINY_LIST}.",
            )
        try:
            ids[str(entry["Scenario"])] = [int(i) for i in entry["Sampled_ID_List"]]
        except (TypeError, ValueError):
            raise UsageError(
                f"{file}: the Sampled_ID_List of {entry['Scenario']!r} is not a list of question ids.",
                f"Pass MM-SafetyBench's {TINY_LIST}.",
            ) from None
    return file, ids


def _image_types(value) -> list[str]:
    names = list_arg(value, "mm_safetybench", "image_types")
    if names is None:
        return list(IMAGE_TYPES)
    out = []
    for name in names:
        canonical = re.sub(r"[^A-Z]+", "_", name.upper()).strip("_")
        if canonical not in IMAGE_TYPES:
            raise UsageError(
                f"mm_safetybench: unknown image type {name!r}.",
                f"Valid: {', '.join(IMAGE_TYPES)} (image_types=SD_TYPO).",
            )
        if canonical not in out:
            out.append(canonical)
    return [t for t in IMAGE_TYPES if t in out]


def _images_root(value, scenarios: list[tuple[int, str, Path]]) -> Path:
    root = path_arg(value, "mm_safetybench", "images")
    if not root.is_dir():
        raise UsageError(
            f"mm_safetybench: images={root} is not a folder.",
            "Pass MM-SafetyBench's imgs/ folder (imgs/<scenario>/<SD|TYPO|SD_TYPO>/<id>.jpg; download link in the "
            f"README of {REPO}), or leave images= out.",
        )
    names = [name for _, name, _ in scenarios]
    if not any((root / n).is_dir() for n in names) and (root / "imgs").is_dir():
        return root / "imgs"
    return root


def load_mm_safetybench(
    path=None, scenarios=None, tiny=False, tiny_list=None, images=None, image_types=None, **unknown
) -> list[Sample]:
    """``path``: the processed_questions/ folder (or a folder holding it). ``scenarios``: some of the 13 (names or
    numbers, comma-separated). ``tiny``: only the 168 questions of TinyVersion_ID_List.json (``tiny_list=FILE``;
    giving it implies tiny). ``images``: MM-SafetyBench's imgs/ folder, for ``meta['mm_images']``;
    ``image_types``: which of SD, TYPO, SD_TYPO to require and list (default all three)."""
    reject_unknown("mm_safetybench", unknown, ("path", "scenarios", "tiny", "tiny_list", "images", "image_types"))
    folder = _questions_folder(need_path(path, ORIGIN, f"MM-SafetyBench's {FOLDER}/ folder"))
    selected = _select(_scenario_files(folder), list_arg(scenarios, "mm_safetybench", "scenarios"))
    tiny = bool_arg(tiny, "mm_safetybench", "tiny") or tiny_list not in (None, "")
    tiny_file, tiny_ids = _tiny_ids(folder, tiny_list) if tiny else (None, {})
    if image_types is not None and images in (None, ""):
        raise UsageError(
            "mm_safetybench: image_types= only applies with images=DIR.",
            "Add images=/path/to/imgs or drop image_types.",
        )
    types = _image_types(image_types)
    root = _images_root(images, selected) if images not in (None, "") else None

    samples, missing, expected_images = [], [], 0
    for number, name, file in selected:
        questions = _questions(file)
        if tiny:
            if name not in tiny_ids:
                raise UsageError(
                    f"{tiny_file} has no entry for the scenario {name}.", f"Pass MM-SafetyBench's {TINY_LIST}."
                )
            present = {qid for qid, _, _ in questions}
            absent = [i for i in tiny_ids[name] if i not in present]
            if absent:
                raise UsageError(
                    f"{tiny_file} lists question id(s) {', '.join(map(str, absent[:5]))} of {name}, "
                    f"which {file} lacks.",
                    "Use the tiny list and the question files of the same MM-SafetyBench version.",
                )
            keep = set(tiny_ids[name])
            questions = [q for q in questions if q[0] in keep]
        criterion = CRITERIA.get(number, DEFAULT_CRITERION)
        for qid, key, entry in questions:
            sample_id = f"mmsb-{number:02d}-{qid:03d}"
            meta = {"scenario": name, "question_id": key}
            meta.update({meta_key: entry[k] for k, meta_key in KEYS.items() if meta_key})
            meta.update(
                safety_criterion=criterion,
                borderline=criterion != DEFAULT_CRITERION,
                source=source(ORIGIN.benchmark, file, key=key),
            )
            if root is not None:
                paths = {t: root / name / t / f"{key}.jpg" for t in types}
                expected_images += len(paths)
                missing += [(sample_id, p) for p in paths.values() if not p.is_file()]
                meta["mm_images"] = {t: str(p.resolve()) for t, p in paths.items()}
            samples.append(Sample(id=sample_id, prompt=entry["Question"], category=name, harmful=True, meta=meta))
    if missing:
        raise missing_files_error(
            "mm_safetybench",
            missing,
            expected_images,
            "Pass images= MM-SafetyBench's complete imgs/ folder (imgs/<scenario>/<SD|TYPO|SD_TYPO>/<id>.jpg; "
            f"download link in the README of {REPO}), restrict image_types= to the types you have, "
            "or leave images= out.",
        )
    return samples
