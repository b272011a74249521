"""Which minimum does minibatch SGD select in eight parameters?

A two-component Gaussian mixture is fitted to all four iris measurements
(scikit-learn's bundled copy, standardised): a narrow (0.6) and a wide (1.2)
isotropic component with weights 1/3 and 2/3, the two means in R^4 as
parameters (`hjqp.models.iris_four_features`). Training from 20 seeded
starts finds two minima: O1 with the narrow component on setosa (the lower
loss) and O2 with it on versicolor and virginica. Grids stop at 3D, so the
barriers between them come from minimum action paths (`hjqp.barriers`)
under three noises: the Gaussian noise of SGD's SDE (D the per-sample
gradient covariance), isotropic noise of the same trace, and SGD's own
large-deviation Hamiltonian (the cumulant generating function of the
per-sample gradients). Actual minibatch SGD then runs from the minima at
several learning rates; the barriers fitted to its transition rates,
ln k = a - V / eps with eps = eta / m, are set against the three.

    python examples/sgd_many_parameters.py [--quick] [--eta ...] [--steps N] [--paths P]
                                           [--points N] [--radius R] [--out DIR]

The full run (the defaults) takes about two and a half minutes of CPU time
(one thread): about 110 s for the barriers, of which 75 s for SGD's own
Hamiltonian (150 jumps), and about 40 s for 6 x 1024 runs of 20000 SGD steps.
--quick (60 points per path, 256 runs of 4000 steps at two learning rates)
takes about a minute and a half: the paths of SGD's own Hamiltonian cost
about as much on 60 points as on 100 (fewer points make its support problem
harder on the longer segments).
"""

import argparse

import hjqp
from hjqp.report.sgd import barrier_report, write_barrier_study
from hjqp.sgd import barrier_study

FULL = dict(eta=[0.2, 0.25, 0.3, 0.35, 0.4, 0.5], steps=20000, paths=1024, points=100)
QUICK = dict(eta=[0.4, 0.5], steps=4000, paths=256, points=60)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short paths and runs: " + ", ".join(
        f"{k} {v}" for k, v in QUICK.items()))
    parser.add_argument("--eta", type=float, nargs="+", default=None, help=f"learning rates (default {FULL['eta']})")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=None, help=f"steps per run (default {FULL['steps']})")
    parser.add_argument("--paths", type=int, default=None, help=f"runs per learning rate (default {FULL['paths']})")
    parser.add_argument("--points", type=int, default=None,
                        help=f"points per minimum action path (default {FULL['points']})")
    parser.add_argument("--radius", type=float, default=None,
                        help="core radius (default a quarter of the distance between the minima)")
    parser.add_argument("--out", default=None, help="also write report.md and study.json into this folder")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    pick = lambda name: preset[name] if getattr(args, name) is None else getattr(args, name)  # noqa: E731
    problem = hjqp.models.iris_four_features()
    study = barrier_study(problem, pick("eta"), batch_size=args.batch, n_steps=pick("steps"),
                          n_paths=pick("paths"), n_points=pick("points"), radius=args.radius)
    print(write_barrier_study(study, args.out) if args.out else barrier_report(study))
    return study


if __name__ == "__main__":
    main()
