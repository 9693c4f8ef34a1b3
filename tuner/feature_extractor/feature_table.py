"""The per-store feature layout: one table of (name, meaning, scaling) that fixes the slot
of every feature and from which docs/features.md is generated."""

from __future__ import annotations

from dataclasses import dataclass

#: scaling names used in the table
LOG = "log2(1+x)"
ONE_HOT = "one-hot (0/1)"
FLAG = "flag (0/1)"
RAW = "raw"


@dataclass(frozen=True)
class Feature:
    """One slot of the feature vector."""

    name: str
    meaning: str
    scaling: str


# -- group 1: arithmetic, per store, multiplied by the trip count of the enclosing loops --
ARITH: tuple[tuple[str, str], ...] = (
    ("float_mad", "float multiply-add pairs (Add/Sub with a Mul operand)"),
    ("float_add_sub", "float additions and subtractions not part of a multiply-add"),
    ("float_mul", "float multiplications not part of a multiply-add"),
    ("float_div_mod", "float divisions, floordiv, floormod, fmod"),
    ("float_cmp", "float comparisons, min and max"),
    ("float_math_func", "float math calls (exp, log, sqrt, rsqrt, tanh, sigmoid, erf, pow, ...)"),
    ("int_mad", "integer multiply-add pairs (index arithmetic included)"),
    ("int_add_sub", "integer additions and subtractions (index arithmetic included)"),
    ("int_mul", "integer multiplications (index arithmetic included)"),
    ("int_div_mod", "integer div, mod, floordiv, floormod (index arithmetic included)"),
    ("int_cmp", "integer comparisons, min and max"),
    ("bool_op", "logical and, or, not"),
    ("select_op", "Select and if_then_else"),
    ("cast_op", "dtype casts"),
)

LOOP_KINDS = (("vec", "vectorized"), ("unroll", "unrolled"), ("parallel", "parallel"))
POSITIONS = ("inner", "middle", "outer", "none")

# -- group 3: per accessed buffer (repeated buffers_per_store times) --
BUFFER: tuple[tuple[str, str, str], ...] = (
    ("acc_read", "the store only reads this buffer", ONE_HOT),
    ("acc_write", "the store only writes this buffer", ONE_HOT),
    ("acc_read_write", "the store reads and writes this buffer (an accumulation)", ONE_HOT),
    ("bytes", "bytes accessed over all iterations (trip count x accesses x element size)", LOG),
    ("unique_bytes", "bytes of the distinct region touched by the whole loop nest "
     "(bounding box of the accesses)", LOG),
    ("lines", "cache lines loaded if only the innermost loop reuses lines: trip count outside "
     "the innermost loop x lines of the innermost loop's footprint", LOG),
    ("unique_lines", "cache lines of the whole loop nest's footprint", LOG),
    ("reuse_loop_multiple_read", "reuse type: some enclosing loop does not move the access "
     "(the innermost such loop gives the reuse below)", ONE_HOT),
    ("reuse_serial_read_write", "reuse type: no invariant loop, but the store reads and "
     "writes the same element", ONE_HOT),
    ("reuse_none", "reuse type: no reuse", ONE_HOT),
    ("reuse_dis_iter", "iterations between two uses: product of the loop extents inside the "
     "innermost invariant loop", LOG),
    ("reuse_dis_bytes", "bytes touched (all buffers of the store) between two uses: footprint "
     "inside the innermost invariant loop", LOG),
    ("reuse_ct", "how often an element is reused: extent of the innermost invariant loop", LOG),
    ("bytes_d_reuse_ct", "bytes / max(1, reuse_ct)", LOG),
    ("unique_bytes_d_reuse_ct", "unique_bytes / max(1, reuse_ct)", LOG),
    ("lines_d_reuse_ct", "lines / max(1, reuse_ct)", LOG),
    ("unique_lines_d_reuse_ct", "unique_lines / max(1, reuse_ct)", LOG),
    ("stride", "elements between the addresses of consecutive iterations of the innermost "
     "loop that moves the access (row-major flattened; absolute value)", LOG),
    ("inner_stride", "elements between consecutive iterations of the innermost loop "
     "(0: broadcast, 1: contiguous, vector-friendly)", LOG),
    ("vec_stride", "elements between consecutive iterations of the innermost vectorized loop "
     "(0 without one; 1 means a contiguous vector load/store)", LOG),
)

ALLOC: tuple[tuple[str, str], ...] = (
    ("alloc_size", "bytes of the intermediate buffer the store writes (0 for a parameter)"),
    ("alloc_prod", "alloc_size x alloc_outer_prod"),
    ("alloc_outer_prod", "trip count of the loops around the allocation"),
    ("alloc_inner_prod", "trip count of the store inside the allocation "
     "(outer_prod / alloc_outer_prod)"),
)

OUTER: tuple[tuple[str, str], ...] = (
    ("outer_prod", "trip count of the store: product of the extents of its loops"),
    ("num_loops", "number of loops around the store"),
    ("auto_unroll_max_step", "the largest pragma_auto_unroll_max_step (or "
     "meta_schedule.unroll_explicit/implicit) annotation around the store"),
)

WORKLOAD: tuple[tuple[str, str], ...] = (
    ("wl_float_ops", "float operations of the unscheduled workload (context.mod)"),
    ("wl_num_stores", "number of BufferStores in the workload"),
    ("wl_num_reductions", "number of reduction blocks in the workload"),
    ("wl_num_params", "number of buffer parameters"),
    ("wl_param_bytes", "bytes of all buffer parameters"),
    ("wl_math_funcs", "math calls (exp, tanh, ...) of the workload, trip-count weighted"),
)


def feature_table(buffers_per_store: int = 5, arith_intensity_curve_num_samples: int = 10,
                  extract_workload: bool = False) -> list[Feature]:
    """Every slot of the per-store vector, in order."""
    out = [Feature(n, f"{m}, times the trip count", LOG) for n, m in ARITH]
    for short, kind in LOOP_KINDS:
        out.append(Feature(f"{short}_num", f"number of {kind} loops around the store", LOG))
        out.append(Feature(f"{short}_prod", f"product of the extents of the {kind} loops", LOG))
        out.append(Feature(f"{short}_len", f"extent of the innermost {kind} loop", LOG))
        for pos in POSITIONS:
            what = ("no such loop" if pos == "none"
                    else f"the innermost {kind} loop is the {pos}most loop"
                    if pos != "middle" else f"the innermost {kind} loop is neither the "
                    "innermost nor the outermost loop")
            out.append(Feature(f"{short}_pos_{pos}", what, ONE_HOT))
    out += [
        Feature("innermost_extent", "extent of the innermost loop (1 without loops)", LOG),
        Feature("is_reduction_update", "the store reads the element it writes "
                "(a reduction update)", FLAG),
        Feature("is_init", "the store is a reduction's init (its reduction loops are not "
                "counted)", FLAG),
        Feature("is_guarded", "the store runs under a block predicate or an if "
                "(non-divisible tiles)", FLAG),
    ]
    for b in range(buffers_per_store):
        for n, m, s in BUFFER:
            out.append(Feature(f"B{b}.{n}", f"buffer #{b} (by lines, then bytes): {m}", s))
    for k in range(arith_intensity_curve_num_samples):
        out.append(Feature(
            f"arith_intensity_{k}",
            f"float ops / bytes touched, inside the loop nest holding "
            f"{k + 1}/{arith_intensity_curve_num_samples} of log2(trip count) "
            "(interpolated over loop levels)", LOG))
    out += [Feature(n, m, LOG) for n, m in ALLOC]
    out += [Feature(n, m, LOG) for n, m in OUTER]
    if extract_workload:
        out += [Feature(n, m, LOG) for n, m in WORKLOAD]
    return out


def feature_names(**kwargs: object) -> list[str]:
    return [f.name for f in feature_table(**kwargs)]  # type: ignore[arg-type]


def features_markdown(buffers_per_store: int = 5, arith_intensity_curve_num_samples: int = 10
                      ) -> str:
    """The text of docs/features.md (generated; a test checks the file is current)."""
    table = feature_table(buffers_per_store, arith_intensity_curve_num_samples, True)
    n_plain = len(feature_table(buffers_per_store, arith_intensity_curve_num_samples, False))
    lines = [
        "# Per-store features",
        "",
        "<!-- generated by onnxtune.tuner.feature_extractor.feature_table.features_markdown;"
        " do not edit: regenerate with"
        " `python -m onnxtune.tuner.feature_extractor.per_store_feature docs/features.md` -->",
        "",
        "`PerStoreFeature` (`FeatureExtractor.create(\"per-store-feature\")`) turns a "
        "scheduled PrimFunc into one row per `BufferStore` (a block's body and its init). "
        "It walks the scheduled IR itself with the semantics of the lowering pipeline "
        "(`tir/transform`: block iter vars replaced by their bindings, the init run once per "
        "spatial point, extent-1 loops gone) but keeps unrolled loops as loops. Buffer "
        "indices are put in affine form over the loop variables (floordiv/floormod fall "
        "back to interval bounds and finite differences); footprints are bounding boxes, "
        "clipped to the buffer's shape.",
        "",
        f"With the defaults (buffers_per_store={buffers_per_store}, "
        f"arith_intensity_curve_num_samples={arith_intensity_curve_num_samples}) a row has "
        f"{n_plain} features, {len(table)} with extract_workload=True (the `wl_*` slots "
        "at the end, the same for every row of a candidate). Scaling `log2(1+x)` is applied "
        "to the absolute value; one-hot and flag slots are 0 or 1.",
        "",
        "Buffer slots `B0..` hold the buffers the store touches, sorted by lines, then "
        "bytes, descending; missing buffers are zeros, extra ones are dropped. A candidate's "
        "score is the sum of its rows' predictions.",
        "",
        "| # | name | meaning | scaling |",
        "|---|---|---|---|",
    ]
    for i, f in enumerate(table):
        lines.append(f"| {i} | `{f.name}` | {f.meaning} | {f.scaling} |")
    return "\n".join(lines) + "\n"
