"""Which minimum does minibatch SGD select on real data?

Two-component Gaussian mixtures are fitted to the 150 iris petal lengths
(scikit-learn's bundled copy) by minibatch SGD. For each model the script
computes the landscape of the SGD's SDE (b = -grad f, D = the per-sample
gradient covariance) and of the isotropic counterfactual with the same
trace (D_iso = tr D / d I), each on two grids (their difference is the error
estimate within which minima tie), runs actual minibatch SGD from the minima
in turn, and reports the time at each minimum, the transition rates and the
barriers fitted to them against both landscapes: report.md, study.json and
selection.png in one folder per model. The models:

- two_widths: a narrow (0.4) and a wide (1.0) component, weights 1/3, 2/3,
  the means as parameters. The two noises select different minima.
- mixture: one common width 1.1, the means as parameters; D is singular on
  the diagonal where the saddle lies and is regularised by 1e-3 I.
- mixture_3d: the same with the weight learned too, pi = sigmoid(rho): mirror
  minima, which the landscape must report as a tie.

`hjqp sgd MODEL` runs one of them.

    python examples/sgd_iris.py [--model two_widths mixture mixture_3d] [--eta ...] [--gaussian]
                                [--steps N] [--paths P] [--grid N] [--out DIR]
"""

import argparse
import os

import hjqp
from hjqp.report.sgd import write_study
from hjqp.sgd import selection_study

MODELS = {
    "two_widths": lambda: hjqp.models.iris_two_widths(),
    "mixture": lambda: hjqp.models.iris_mixture(),
    "mixture_3d": lambda: hjqp.models.iris_mixture(learn_weight=True),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--eta", type=float, nargs="+", default=None,
                        help="learning rates (default: where the cheapest transition has V / eps = 5, 4.5, 4)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=100000)
    parser.add_argument("--paths", type=int, default=64)
    parser.add_argument("--grid", type=int, default=None, help="nodes per axis (default 201 in 2D, 41 in 3D)")
    parser.add_argument("--gaussian", action="store_true",
                        help="also run gradient descent with Gaussian noise of covariance D and tr D / d I")
    parser.add_argument("--no-own", dest="own", action="store_false",
                        help="skip the landscape of SGD's own Hamiltonian (2D models; about 3 minutes each)")
    parser.add_argument("--out", default="hjqp-sgd-iris")
    args = parser.parse_args(argv)
    studies = {}
    for name in args.model:
        problem = MODELS[name]()
        study = selection_study(problem, args.eta, batch_size=args.batch, n_steps=args.steps,
                                n_paths=args.paths, grid_nodes=args.grid, gaussian=args.gaussian, own=args.own)
        print(write_study(study, problem, os.path.join(args.out, name)))
        studies[name] = study
    return studies


if __name__ == "__main__":
    main()
