"""Compiled programs, cached by their structure: a process compiles each program structure once.

A program is a pure function of a :class:`Problem` whose data are shapes only
(:meth:`Problem.structure`): the builders of :mod:`.program`, :mod:`.measure` and :mod:`.replay`
read the data from the program's last argument, a :class:`Data`, and every per-run value from its
other arguments. So the compiled program is the same for every job of the same structure, and it
is kept here under a key of

- the program's name and its static choices (chunk length, snapshot cadences, batch mode, ...),
- :meth:`Problem.key`: the spec without the fields that only choose data values (data seed, noise,
  test seeds), the data's shapes and dtypes,
- the shapes and dtypes of the arguments (runs per batch, parameter shapes), and
- the JAX flags the engine sets per job (``jax_enable_x64``, ``jax_threefry_partitionable``) and the
  backend.

A second job of the same structure (other data seed, A, T, eta, seeds) therefore traces and
compiles nothing. Across processes, JAX's persistent compilation cache (config key ``jax_cache``)
hits too: the program does not differ by the data. The numbers are those of a program compiled for
the job alone; against data compiled in as constants, XLA associates a few products differently
(last bits of the MSE losses and the spectra; benchmarks/RESULTS.md, "engine").
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Hashable

import jax

from .problem import Problem

log = logging.getLogger("dynloss")

#: compiled programs kept per process (least recently used dropped first); a job needs a handful
#: (one per chunk length, the final and measurement programs, the replay)
CACHE_SIZE = 64


@dataclass
class CacheStats:
    """What :data:`PROGRAMS` has done in this process."""

    compiles: int = 0  # programs traced, lowered and compiled
    hits: int = 0  # programs found compiled
    compile_s: float = 0.0  # seconds spent compiling


class ProgramCache:
    """Compiled programs by key, at most ``size`` of them (least recently used dropped first)."""

    def __init__(self, size: int = CACHE_SIZE):
        self.size = size
        self.stats = CacheStats()
        self._programs: OrderedDict[Hashable, jax.stages.Compiled] = OrderedDict()

    def __len__(self) -> int:
        return len(self._programs)

    def get(self, key: Hashable, compile: Callable[[], jax.stages.Compiled], name: str) -> jax.stages.Compiled:
        """The program of ``key``; compiled by ``compile()`` (and logged) when not kept."""
        program = self._programs.get(key)
        if program is not None:
            self._programs.move_to_end(key)
            self.stats.hits += 1
            return program
        start = time.perf_counter()
        program = compile()
        seconds = time.perf_counter() - start
        self.stats.compiles += 1
        self.stats.compile_s += seconds
        log.info("compiled program %s in %.2f s", name, seconds)
        self._programs[key] = program
        while len(self._programs) > self.size:
            self._programs.popitem(last=False)
        return program

    def clear(self) -> None:
        """Drop every kept program (the counts stay)."""
        self._programs.clear()


#: this process's compiled programs
PROGRAMS = ProgramCache()


def _avals(tree) -> tuple:
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    return treedef, tuple(jax.api_util.shaped_abstractify(a) for a in leaves)


def _flags() -> tuple:
    return (bool(jax.config.jax_enable_x64), bool(jax.config.jax_threefry_partitionable), jax.default_backend())


def compiled(name: str, static: tuple, problem: Problem, build: Callable[[Problem], Callable],
             args: tuple, donate: tuple[int, ...] = ()) -> jax.stages.Compiled:
    """The compiled ``build(problem.structure())``, a function of ``(*args, data)``, for arguments of
    the shapes of ``args`` and ``problem.data``: from :data:`PROGRAMS` when a program of this
    structure was compiled before.

    Args:
        name: the program's name (logged with its compile time).
        static: every choice ``build`` reads besides the problem, as ``(name, value)`` pairs (hashable).
        problem: the job; only its structure enters the program.
        build: the pure builder; its function takes the data as its last argument.
        args: example arguments but the data (values or ``jax.ShapeDtypeStruct``).
        donate: indices of the arguments whose buffers the program may reuse.
    """
    data = problem.data
    key = (name, static, problem.key(), _avals(args), _flags())

    def compile():
        fn = jax.jit(build(problem.structure()), donate_argnums=donate)
        return fn.lower(*args, data).compile()

    label = f"{name} ({', '.join(f'{k} {v}' for k, v in static)})" if static else name
    return PROGRAMS.get(key, compile, label)
