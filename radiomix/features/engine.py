"""The extraction engine: every enabled family on every case, cached, serial, on local worker
processes or on a Dask cluster.

``extract_case`` is the one pure function every scheduler runs. ``extract_features`` reads the
manifest, takes what it can from the cache, computes the rest (in this process for one worker
or a single case; by default on one local worker process per core, forked once the modules and
pyradiomics extractors are ready; or on a Dask scheduler given by address, each task carrying
the case's file paths, not its images), and writes:

- ``OUT`` (parquet): one row per case in manifest order, identity and clinical columns, then
  every feature of the configuration (NaN where it could not be computed); provenance in the
  schema metadata under the key ``radiomix`` (see :func:`read_provenance`);
- ``<out stem>_curves.parquet``: dynamic region curves (case_id, region, frame, mid_min, suv);
- the error report (CSV: case_id, stage, kind, message), ``<out stem>_errors.csv`` by default.
  ``kind`` is ``missing`` (an input is absent from the manifest), ``nan`` (inputs present but the
  value is not computable, e.g. no frame in a window), ``error`` (a failure; the case still
  gets its other families) or ``warning`` (reported, the values are still computed). Results
  with an ``engine`` error (a worker lost) are not cached;
- ``<out stem>_cases/<case_id>/``: what the data layer derives before extraction (automatic
  reference regions, a DICOM dynamic series as 4D SUV, registration transform, QA figure),
  listed with every resampling in the table's provenance under ``cases``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import SimpleITK as sitk
from pydantic import ValidationError

from radiomix import __version__
from radiomix.cores import usable_cores
from radiomix.data.images import reads_shared
from radiomix.data.manifest import Case, Manifest, load_manifest
from radiomix.data.prepare import prepare_case
from radiomix.data.resample import case_grids
from radiomix.errors import ConfigError, ExtractionError, ManifestError, RadiomixError
from radiomix.features.cache import FeatureCache, case_key
from radiomix.features.config import ExtractionConfig, load_config
from radiomix.features.registry import Family, enabled_families, feature_names
from radiomix.outputs import writable_file, writable_folder
from radiomix.schema import CLINICAL_NUMBER_COLUMNS, CLINICAL_TEXT_COLUMNS, TABLE_KEY_COLUMNS

if TYPE_CHECKING:
    from distributed import Client

ERROR_COLUMNS = ["case_id", "stage", "kind", "message"]
CURVE_COLUMNS = ["case_id", "region", "frame", "mid_min", "suv"]
ENGINE_STAGE = "engine"
CONNECT_TIMEOUT = "10s"
PROVENANCE_KEY = b"radiomix"
# Fewest cases to compute for which worker processes beat one in-process run (measured by
# benchmarks/bench_extraction.py: forked workers start in milliseconds, a case takes ~0.1-1 s).
PARALLEL_MIN_CASES = 2
LOG = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CaseProblem:
    """One line of the error report."""

    case_id: str
    stage: str
    kind: str
    message: str


@dataclass
class CaseResult:
    """Features, problems and dynamic curves of one case."""

    case_id: str
    features: dict[str, float] = field(default_factory=dict)
    problems: list[CaseProblem] = field(default_factory=list)
    curves: pd.DataFrame | None = None
    provenance: dict[str, object] = field(default_factory=dict)

    @property
    def cacheable(self) -> bool:
        """False when the case failed for a reason outside its data (a lost worker)."""
        return all(problem.stage != ENGINE_STAGE for problem in self.problems)

    def to_entry(self) -> dict:
        """A JSON-ready dict for the cache."""
        curves = None if self.curves is None else self.curves.to_dict(orient="list")
        return {
            "case_id": self.case_id,
            "features": self.features,
            "curves": curves,
            "problems": [[p.stage, p.kind, p.message] for p in self.problems],
            "provenance": self.provenance,
        }

    @classmethod
    def from_entry(cls, entry: dict) -> CaseResult:
        """Rebuild a result read from the cache."""
        case_id = entry["case_id"]
        curves = None if entry["curves"] is None else pd.DataFrame(entry["curves"])
        return cls(
            case_id,
            {k: float(v) for k, v in entry["features"].items()},
            [CaseProblem(case_id, *problem) for problem in entry["problems"]],
            curves,
            entry.get("provenance", {}),
        )


@dataclass
class ExtractionResult:
    """What ``extract_features`` wrote, and how much came from the cache."""

    table: pd.DataFrame
    errors: pd.DataFrame
    curves: pd.DataFrame
    n_cached: int
    n_computed: int


def _shown(output: str) -> str:
    return f"{output}*" if output.endswith("_") else output


def _absent_inputs(
    case: Case, family: Family, config: ExtractionConfig
) -> tuple[list[str], list[CaseProblem]]:
    """The outputs whose inputs are all present, and one problem per set of absent columns."""
    ready: list[str] = []
    absent: dict[tuple[str, ...], list[str]] = {}
    for output, columns in family.inputs(config).items():
        missing = tuple(column for column in columns if not case.has(column))
        if missing:
            absent.setdefault(missing, []).append(_shown(output))
        else:
            ready.append(output)
    problems = [
        CaseProblem(
            case.case_id,
            family.name,
            "missing",
            f"no {', '.join(columns)}: {', '.join(outputs)} set to NaN",
        )
        for columns, outputs in absent.items()
    ]
    return ready, problems


def _not_computed(
    case_id: str, family: Family, ready: list[str], features: dict[str, float]
) -> list[CaseProblem]:
    """A problem naming the ready outputs the family left out or returned as NaN."""
    lost = [
        output
        for output in ready
        if not output.endswith("_") and not math.isfinite(features.get(output, math.nan))
    ]
    if not lost:
        return []
    return [
        CaseProblem(
            case_id,
            family.name,
            "nan",
            f"not computable from the inputs: {', '.join(lost)} set to NaN",
        )
    ]


def run_family(case: Case, family: Family, config: ExtractionConfig) -> CaseResult:
    """One family on one case; absent inputs and failures become problems, never exceptions."""
    ready, problems = _absent_inputs(case, family, config)
    result = CaseResult(case.case_id, problems=problems)
    if not ready:
        return result
    try:
        extracted = family.run(case, config)
    except RadiomixError as error:
        result.problems.append(CaseProblem(case.case_id, family.name, "error", str(error)))
        return result
    except Exception as error:  # a library failure on this case must not end the batch
        message = f"case {case.case_id}: unexpected {type(error).__name__}: {error}"
        result.problems.append(CaseProblem(case.case_id, family.name, "error", message))
        return result
    result.features, infinite = _finite(extracted.features)
    result.curves = extracted.curves
    result.problems += [
        CaseProblem(case.case_id, family.name, "error", message) for message in extracted.problems
    ]
    if infinite:
        result.problems.append(
            CaseProblem(
                case.case_id,
                family.name,
                "error",
                f"infinite value: {', '.join(infinite)} set to NaN",
            )
        )
    computed = {name: value for name, value in result.features.items() if name not in infinite}
    applicable = [output for output in ready if output not in extracted.not_applicable]
    result.problems += _not_computed(case.case_id, family, applicable, computed)
    return result


def _finite(features: dict[str, float]) -> tuple[dict[str, float], list[str]]:
    """The features as floats with infinities replaced by NaN, and the names replaced."""
    values = {name: float(value) for name, value in features.items()}
    infinite = [name for name, value in values.items() if math.isinf(value)]
    return values | dict.fromkeys(infinite, math.nan), infinite


def extract_case(case: Case, config: ExtractionConfig, derived: Path | None = None) -> CaseResult:
    """Every enabled family on one case, each image on its configured grid.

    Reads files; writes only derived inputs (automatic reference regions, a DICOM dynamic
    series as 4D SUV, QA figure) under ``derived`` when given.
    """
    merged = CaseResult(case.case_id)
    curves = []
    # The families share the case's images instead of rereading them.
    with reads_shared(), case_grids(config.grid, derived, config.regions.tissue) as grids:
        case, problems, warnings = prepare_case(case)
        merged.problems += [CaseProblem(case.case_id, "prepare", "error", p) for p in problems]
        merged.problems += [CaseProblem(case.case_id, "prepare", "warning", w) for w in warnings]
        for family in enabled_families(config):
            result = run_family(case, family, config)
            merged.features |= result.features
            merged.problems += result.problems
            if result.curves is not None:
                curves.append(result.curves)
    merged.curves = pd.concat(curves, ignore_index=True) if curves else None
    merged.provenance = grids.record
    return merged


def single_threaded() -> None:
    """Limit native thread pools (BLAS, OpenMP, ITK) of this process to one thread: parallel
    cases, not parallel voxels, keep every core busy without oversubscription."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)


def extract_case_single_threaded(
    case: Case, config: ExtractionConfig, derived: Path | None = None
) -> CaseResult:
    """``extract_case`` in a single-threaded process (the task a Dask worker runs)."""
    single_threaded()
    return extract_case(case, config, derived)


def _engine_failure(case: Case, reason: str) -> CaseResult:
    message = f"case {case.case_id}: {reason}"
    return CaseResult(
        case.case_id, problems=[CaseProblem(case.case_id, ENGINE_STAGE, "error", message)]
    )


def _worker_failure(case: Case, error: BaseException) -> CaseResult:
    return _engine_failure(case, f"worker failed: {type(error).__name__}: {error}")


def run_serial(
    cases: Iterable[Case],
    config: ExtractionConfig,
    collect: Callable[[CaseResult], None],
    derived: Path | None = None,
) -> None:
    """Extract the cases one after the other in this process; a failure ends one case only.
    Native thread pools (BLAS, OpenMP, ITK) run one thread as in the workers, so that a serial
    run writes the same bits as a parallel one."""
    from threadpoolctl import threadpool_limits

    itk_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        with threadpool_limits(limits=1):
            for case in cases:
                try:
                    result = extract_case(case, config, derived)
                except Exception as error:  # whatever breaks on one case, the batch goes on
                    result = _engine_failure(case, f"unexpected {type(error).__name__}: {error}")
                collect(result)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(itk_threads)


def _start_method() -> str:
    """``fork`` on Linux: workers start in milliseconds and inherit the imported modules and
    the pyradiomics extractors already built here; ``spawn`` elsewhere (fork is unsafe on
    macOS)."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _run_pool(
    queue: deque[Case],
    config: ExtractionConfig,
    workers: int,
    collect: Callable[[CaseResult], None],
    derived: Path | None,
) -> list[Case]:
    """Run the queued cases on a pool of ``workers`` processes, at most one waiting case per
    worker beyond the running ones (so memory holds one case per worker, whatever the batch).

    Returns the cases in flight when a worker process died (killed, out of memory); the cases
    still queued stay in ``queue``.
    """
    context = multiprocessing.get_context(_start_method())
    running: dict[Future, Case] = {}
    try:
        pool = ProcessPoolExecutor(workers, mp_context=context, initializer=single_threaded)
    except OSError as error:
        raise ExtractionError(
            f"cannot start {workers} worker process(es): {error}; run serially with --workers 1"
        ) from error
    with pool:
        while queue or running:
            while queue and len(running) < 2 * workers:
                case = queue.popleft()
                running[pool.submit(extract_case, case, config, derived)] = case
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                case = running.pop(future)
                try:
                    collect(future.result())
                except BrokenProcessPool:
                    return [case, *running.values()]
                except Exception as error:  # e.g. a result that cannot be sent back
                    collect(_worker_failure(case, error))
    return []


def run_local(
    cases: list[Case],
    config: ExtractionConfig,
    workers: int,
    collect: Callable[[CaseResult], None],
    derived: Path | None = None,
) -> None:
    """Extract the cases on ``workers`` local processes.

    When a worker process dies, the pool is restarted for the remaining cases and each case
    that was in flight is retried alone; one that kills its worker again is reported (stage
    ``engine``, not cached) and the batch goes on.
    """
    queue = deque(cases)
    while queue:
        for case in _run_pool(queue, config, workers, collect, derived):
            if _run_pool(deque([case]), config, 1, collect, derived):
                collect(
                    _engine_failure(
                        case, "its worker process died (killed, or out of memory) twice"
                    )
                )


def run_dask(
    client: Client,
    cases: list[Case],
    config: ExtractionConfig,
    collect: Callable[[CaseResult], None],
    derived: Path | None = None,
) -> None:
    """Submit one task per case (the case's paths, not its images: workers read the files
    from shared storage) and collect results as they complete."""
    from distributed import as_completed

    futures = {
        client.submit(extract_case_single_threaded, case, config, derived, pure=False): case
        for case in cases
    }
    for future in as_completed(futures):
        try:
            result = future.result()
        except Exception as error:  # the task or its worker died: report the case, go on
            result = _worker_failure(futures[future], error)
        future.release()
        collect(result)


@contextmanager
def dask_client(scheduler: str) -> Iterator[Client]:
    """A client of the Dask scheduler at ``scheduler``; ExtractionError when unreachable."""
    from distributed import Client

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as error:
        raise ExtractionError(
            f"cannot connect to the Dask scheduler at {scheduler}: {error}"
        ) from error
    with client:
        yield client


def local_workers(workers: int | None, n_cases: int) -> int:
    """Worker processes for ``n_cases``: the requested number (default: the usable cores),
    never more than the cases; 1 (serial, in this process) below ``PARALLEL_MIN_CASES``."""
    if n_cases < PARALLEL_MIN_CASES:
        return 1
    return max(1, min(workers or usable_cores(), n_cases))


def run_cases(
    cases: list[Case],
    config: ExtractionConfig,
    workers: int | None,
    scheduler: str | None,
    collect: Callable[[CaseResult], None],
    derived: Path | None = None,
) -> None:
    """Extract ``cases`` on the Dask scheduler at ``scheduler``, else on local processes (in
    this process when one worker suffices); derived inputs go under ``derived``."""
    if not cases:
        return
    if scheduler:
        LOG.info("extracting %d case(s) on the Dask scheduler at %s", len(cases), scheduler)
        with dask_client(scheduler) as client:
            run_dask(client, cases, config, collect, derived)
        return
    n_workers = local_workers(workers, len(cases))
    LOG.info("extracting %d case(s) on %d process(es)", len(cases), n_workers)
    if n_workers == 1:
        run_serial(cases, config, collect, derived)
    else:
        run_local(cases, config, n_workers, collect, derived)


def identity_row(case: Case) -> dict[str, object]:
    """Identity and clinical columns of a case."""
    row = {name: getattr(case, name) for name in TABLE_KEY_COLUMNS + CLINICAL_TEXT_COLUMNS}
    row |= {name: case.values.get(name, math.nan) for name in CLINICAL_NUMBER_COLUMNS}
    return row | case.clinical


def _typed(column: pd.Series) -> pd.Series:
    """A clinical column as numbers when every filled cell is one, else as text."""
    try:
        return pd.to_numeric(column.replace("", math.nan))
    except (ValueError, TypeError):
        return column


def feature_table(cases: list[Case], results: list[CaseResult], columns: list[str]) -> pd.DataFrame:
    """One row per case: identity, clinical columns, then ``columns`` (NaN-filled) and any
    feature a family returned beyond them (sorted)."""
    identity = pd.DataFrame([identity_row(case) for case in cases])
    identity["label"] = identity["label"].astype("Int64")
    for name in identity.columns[len(TABLE_KEY_COLUMNS) :]:
        identity[name] = _typed(identity[name])
    extra = sorted({name for result in results for name in result.features} - set(columns))
    features = pd.DataFrame(
        [result.features for result in results], columns=columns + extra, dtype="float64"
    )
    return pd.concat([identity, features.reset_index(drop=True)], axis=1)


def errors_table(results: list[CaseResult]) -> pd.DataFrame:
    """The error report of all cases, in manifest order."""
    rows = [vars(problem) for result in results for problem in result.problems]
    return pd.DataFrame(rows, columns=ERROR_COLUMNS)


def curves_table(results: list[CaseResult]) -> pd.DataFrame:
    """The dynamic curves of all cases, in manifest order."""
    parts = [result.curves for result in results if result.curves is not None]
    if not parts:
        return pd.DataFrame(
            {
                name: pd.Series(dtype="float64" if name in ("mid_min", "suv") else "object")
                for name in CURVE_COLUMNS
            }
        )
    return pd.concat(parts, ignore_index=True)[CURVE_COLUMNS]


def provenance(config: ExtractionConfig, manifest: Path) -> dict[str, str]:
    """Configuration hash, software versions, manifest and creation time."""
    return {
        "config_sha256": config.digest(),
        "config": json.dumps(config.model_dump(mode="json"), sort_keys=True),
        "radiomix": __version__,
        "pyradiomics": version("pyradiomics"),
        "numpy": version("numpy"),
        "SimpleITK": version("SimpleITK"),
        "manifest": str(manifest),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


@contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it onto ``path`` when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_parquet(frame: pd.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write a table as parquet (atomically), with ``metadata`` as JSON under the
    ``radiomix`` schema key."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata is not None:
        merged = {**(table.schema.metadata or {}), PROVENANCE_KEY: json.dumps(metadata).encode()}
        table = table.replace_schema_metadata(merged)
    with replaced_atomically(path) as temporary:
        pq.write_table(table, temporary)


def read_provenance(path: Path) -> dict[str, str]:
    """The provenance stored in a parquet feature table written by ``extract_features``; {}
    for other tables (CSV, or parquet without provenance), whatever the file's name."""
    with Path(path).open("rb") as handle:
        if handle.read(4) != b"PAR1":  # the parquet magic number
            return {}
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(PROVENANCE_KEY, b"{}"))


def stored_config(path: Path) -> ExtractionConfig | None:
    """The extraction configuration that made a feature table, from its provenance; None for
    a table without one."""
    stored = read_provenance(path).get("config")
    if stored is None:
        return None
    try:
        return ExtractionConfig.model_validate(json.loads(stored))
    except ValidationError as error:
        raise ConfigError(
            f"{path}: the extraction configuration in its provenance does not fit this "
            f"radiomix:\n{error}"
        ) from None


def _cache_folder(cache_dir: Path | None, config: ExtractionConfig, out: Path) -> Path:
    folder = Path(cache_dir) if cache_dir is not None else Path(config.cache_dir)
    return folder if folder.is_absolute() else out.parent / folder


def derived_folder(out: Path) -> Path:
    """``features.parquet`` -> ``features_cases/``: per-case derived inputs and QA figures."""
    return sibling(out, "_cases").resolve()


def sibling(out: Path, suffix: str) -> Path:
    """``features.parquet`` -> ``features<suffix>``."""
    return out.with_name(out.name.removesuffix(".parquet") + suffix)


def extract_features(
    manifest: Path,
    out: Path,
    config: Path | ExtractionConfig | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    errors: Path | None = None,
    cache_dir: Path | None = None,
    progress: Progress | None = None,
) -> ExtractionResult:
    """Extract every enabled family for every case of a manifest into ``out`` (parquet).

    ``workers``: local worker processes (default: the usable cores; 1, or fewer than
    ``PARALLEL_MIN_CASES`` cases to compute, runs in this process); ``scheduler``: address of a
    Dask scheduler to run the cases on instead; ``errors``: the error report (default
    ``<out stem>_errors.csv``); ``cache_dir``: default ``config.cache_dir``, relative to the
    folder of ``out``; ``progress``: called as ``progress(done, total)`` after the cache look-up
    and after each case.
    """
    settings = config if isinstance(config, ExtractionConfig) else load_config(config)
    out = writable_file(out, "feature table")
    errors = writable_file(errors or sibling(out, "_errors.csv"), "error report")
    loaded = load_manifest(manifest)
    check_extractable(loaded)
    cases = list(loaded.cases)
    columns = feature_names(settings)
    cache = FeatureCache(writable_folder(_cache_folder(cache_dir, settings, out), "cache folder"))
    digest = settings.digest()
    keys = {case.case_id: case_key(case, digest) for case in cases}
    results = {
        case.case_id: CaseResult.from_entry(entry)
        for case in cases
        if (entry := cache.load(keys[case.case_id])) is not None
    }
    todo = [case for case in cases if case.case_id not in results]
    LOG.info("%d case(s): %d from the cache, %d to compute", len(cases), len(results), len(todo))
    report = progress or (lambda done, total: None)
    report(len(results), len(cases))

    def collect(result: CaseResult) -> None:
        results[result.case_id] = result
        if result.cacheable:
            cache.store(keys[result.case_id], result.to_entry())
        report(len(results), len(cases))

    run_cases(todo, settings, workers, scheduler, collect, derived_folder(out))
    ordered = [results[case.case_id] for case in cases]
    extraction = ExtractionResult(
        feature_table(cases, ordered, columns),
        errors_table(ordered),
        curves_table(ordered),
        len(cases) - len(todo),
        len(todo),
    )
    metadata = provenance(settings, loaded.path)
    metadata["cases"] = json.dumps({result.case_id: result.provenance for result in ordered})
    _write_outputs(extraction, out, errors, metadata)
    return extraction


def check_extractable(manifest: Manifest) -> None:
    """ManifestError, before any work, for a manifest no extraction can use."""
    if not len(manifest):
        raise ManifestError(f"manifest {manifest.path} holds no case")
    if "lesion_mask" not in manifest.table.columns:
        raise ManifestError(
            f"manifest {manifest.path} has no lesion_mask column; every "
            "feature is computed in the lesion"
        )


def _write_outputs(
    extraction: ExtractionResult, out: Path, errors: Path, metadata: dict[str, str]
) -> None:
    write_parquet(extraction.table, out, metadata)
    write_parquet(extraction.curves, sibling(out, "_curves.parquet"))
    with replaced_atomically(errors) as temporary:
        extraction.errors.to_csv(temporary, index=False)
