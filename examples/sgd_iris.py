"""Which minimum does minibatch SGD select on real data?

A two-component Gaussian mixture with common width s = 1.1 and weights 1/3,
2/3 is fitted to the 150 iris petal lengths (scikit-learn's bundled copy) by
minibatch SGD on its two means. The loss has two minima: O1 (the light
component on setosa; the better fit) and O2 (the components swapped). The
script computes the landscape of the SGD's SDE (b = -grad f, D = the
per-sample gradient covariance, regularised by 1e-3 I where it is singular)
and of the isotropic counterfactual (D_iso = tr D / 2 I), then runs actual
minibatch SGD at several learning rates, and reports the time spent at
each minimum against the leading-order predictions of both. `hjqp sgd`
runs the same.

    python examples/sgd_iris.py [--eta 0.6 0.8 1.0] [--batch 1] [--steps N] [--paths P] [--out DIR]
"""

import argparse

import hjqp
from hjqp.sgd import selection_study, write_study


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--eta", type=float, nargs="+", default=[0.6, 0.8, 1.0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--paths", type=int, default=64)
    parser.add_argument("--grid", type=int, default=201)
    parser.add_argument("--regularisation", type=float, nargs="*", default=[1e-2, 1e-3, 1e-4])
    parser.add_argument("--out", default="hjqp-sgd-iris")
    args = parser.parse_args(argv)
    problem = hjqp.models.iris_mixture()
    study = selection_study(problem, args.eta, batch_size=args.batch, n_steps=args.steps, n_paths=args.paths,
                            grid_nodes=args.grid, regularisations=args.regularisation)
    print(write_study(study, problem, args.out))
    return study


if __name__ == "__main__":
    main()
