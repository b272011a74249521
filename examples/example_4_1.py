"""The paper's Example 4.1: the noise selects one of two equal minima.

The loss has two wells of equal depth, f = |x - O_i|^2 on the unit discs
around O_1 = (-2, 0) and O_2 = (2, 0), and is flat (f = 1) between them. The
gradient noise is D = diag(mu_i, 2 - mu_i) in well i and I outside. Leaving
well i costs 2 / max(mu_i, 2 - mu_i); with mu1 = 1.9999 (noise almost only
along x1) and mu2 = 1.0001 (nearly isotropic) the noise drives SGD out of O_1
twice as easily as out of O_2, so as eps -> 0 it selects O_2, although the
loss cannot tell the two apart. The global quasi-potential phi, which SGD
minimises in that limit, is 0 at O_2 and 2/mu2 - 2/mu1 at O_1.

This is what ``hjqp demo`` runs (the code is hjqp/demo.py, a page of calls
to hjqp.landscape, hjqp.long_run, hjqp.verify and hjqp.plot): the landscape
with the costs against the exact ones, the Markov chain's stationary law,
Monte Carlo at the paper's eps = 0.2 and dt = 0.01 from both minima (the SDE
leaves O_1 and stays near O_2; Figure 2 of the paper is trajectories.png),
the predicted rates and occupancies against Monte Carlo at eps = 0.5 down
to 0.2 (their log ratios; no Eyring-Kramers prefactor applies to this flat
loss with jumping noise, and the report says why), and figures of phi next
to the loss. The flat loss is confined by
(|x| - 4.5)^2 / 2 beyond radius 4.5, far from the wells (no cost changes),
since it has no stationary law on the plane.

    python examples/example_4_1.py [--grid N] [--paths P] [--out DIR]
"""

import argparse

from hjqp.report import demo


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=401, help="nodes per axis (default 401)")
    parser.add_argument("--paths", type=int, default=64, help="Monte Carlo paths (default 64)")
    parser.add_argument("--out", default="hjqp-example/example_4_1", help="output folder")
    args = parser.parse_args(argv)
    return demo.run(args.out, grid_n=args.grid, paths=args.paths)


if __name__ == "__main__":
    main()
