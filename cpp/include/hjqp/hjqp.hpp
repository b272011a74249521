// hjqp: quasi-potentials of stochastic differential equations on grids.
// Header-only C++17 kernel; include this file to get all of it.
#pragma once

#include "hjqp/action.hpp"
#include "hjqp/eikonal.hpp"
#include "hjqp/fields.hpp"
#include "hjqp/flow.hpp"
#include "hjqp/grid.hpp"
#include "hjqp/heap.hpp"
#include "hjqp/linalg.hpp"
#include "hjqp/marcher.hpp"
#include "hjqp/random.hpp"
#include "hjqp/sde.hpp"
#include "hjqp/update.hpp"
