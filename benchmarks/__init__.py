"""meshgen's performance harness: a benchmark runner over the specs of the `synthetic` package.

    python -m benchmarks generate --models 1000 --seed 7 --out bench/1000
    python -m benchmarks run --sizes 100 1000 5000 --repeat 3 --json results.json
"""
