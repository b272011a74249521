// hjqp: quasi-potentials of stochastic differential equations on grids.
// Header-only C++17 kernel; include this file to get all of it.
#pragma once

#include "hjqp/action.hpp"
#include "hjqp/domain.hpp"
#include "hjqp/eikonal/level_set.hpp"
#include "hjqp/eikonal/march.hpp"
#include "hjqp/eikonal/simplex.hpp"
#include "hjqp/eikonal/solve.hpp"
#include "hjqp/fields.hpp"
#include "hjqp/flow.hpp"
#include "hjqp/grid.hpp"
#include "hjqp/heap.hpp"
#include "hjqp/interpolate.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/optimise.hpp"
#include "hjqp/ordered_march.hpp"
#include "hjqp/parallel.hpp"
#include "hjqp/quasipotential.hpp"
#include "hjqp/random.hpp"
#include "hjqp/sde.hpp"
#include "hjqp/updates.hpp"
