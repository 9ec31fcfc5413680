# Julia side of rates-julia: loads generated modules and solves them with DifferentialEquations.jl.
# Included once per Python process by rates_julia.runtime (through juliacall); it only ever
# includes files rates-julia generated and never evaluates text that came from a model.
module RatesJuliaDriver

using DifferentialEquations
using LinearAlgebra
using Random
using SparseArrays
using PythonCall: Py, pyconvert

# solver name (rates) -> algorithm; MethodOfSteps wraps it for systems with delays
const ALGORITHMS = Dict{String, Function}(
    "tsit5" => () -> Tsit5(),
    "vern7" => () -> Vern7(),
    "vern9" => () -> Vern9(),
    "dp5" => () -> DP5(),
    "dp8" => () -> DP8(),
    "bs3" => () -> BS3(),
    "rodas5" => () -> Rodas5(),
    "rosenbrock23" => () -> Rosenbrock23(),
    "autotsit5" => () -> AutoTsit5(Rosenbrock23()),
)

"""Include a generated file into a fresh anonymous module; the model's module."""
function load_model(path::AbstractString)
    holder = Module(:RatesGenerated)
    return Base.include(holder, path)
end

# ------------------------------------------------------------------------------- parameters

native(x::Number) = x
native(x::AbstractArray) = ndims(x) == 0 ? x[] : copy(Array(x))

"""One parameter value from Python, by the kind the code generator recorded."""
function param_value(mod::Module, kind::AbstractString, value)
    if kind == "number" || kind == "array"
        return native(value)
    elseif kind == "index"
        return Int.(native(value)) .+ 1              # 0-based (NumPy) -> 1-based
    elseif kind == "csr"                               # (indptr, indices, data, nrows, ncols)
        indptr, indices, data, m, n = value
        # the CSR arrays of A are the CSC arrays of transpose(A)
        at = SparseMatrixCSC(Int(n), Int(m), Int.(native(indptr)) .+ 1,
                             Int.(native(indices)) .+ 1, native(data))
        return permutedims(at)
    elseif kind == "input"
        return native(value)
    elseif kind == "sampled"                           # (t0, dt, rows)
        t0, dt, rows = value
        return Base.invokelatest(mod.SampledInput, Float64(t0), Float64(dt), native(rows))
    end
    error("unknown parameter kind $kind")
end

"""The NamedTuple `p` of a generated module from Python names, kinds and values."""
function make_params(mod::Module, names, kinds, values)
    keys = Tuple(Symbol(String(n)) for n in names)
    vals = Tuple(param_value(mod, String(k), v) for (k, v) in zip(kinds, values))
    return NamedTuple{keys}(vals)
end

# ------------------------------------------------------------------------------- evaluation

"""`f!(dy, y, p, t)` on arrays shared with Python (written in place)."""
function call_rhs(mod::Module, dy, y, p, t)
    Base.invokelatest(mod.f!, dy, y, p, Float64(t))
    return nothing
end

"""`jac!(J, y, p, t)` on arrays shared with Python (written in place)."""
function call_jac(mod::Module, J, y, p, t)
    Base.invokelatest(mod.jac!, J, y, p, Float64(t))
    return nothing
end

# ------------------------------------------------------------------------------- solving

"""A history function `h(p, t; idxs)` calling a Python function of time (the pre-history)."""
function python_history(history, ::Type{T}) where {T}
    return (p, t; idxs = nothing) -> begin
        v = pyconvert(Vector{T}, history(t))
        idxs === nothing ? v : v[idxs]
    end
end

"""
Solve a generated model; returns (retcode, times, states (one row per time), final).

`saveat` are the sample times; the end time is saved too (the final state).
"""
function solve_model(mod::Module, solver::AbstractString, y0, t0, t1, p, saveat;
                     delays::Bool = false, use_jac::Bool = false, history = nothing,
                     seed = nothing, kwargs...)
    seed === nothing || Random.seed!(Int(seed))
    u0 = native(y0)
    tspan = (Float64(t0), Float64(t1))
    times = Float64.(native(saveat))
    alg = ALGORITHMS[String(solver)]()
    f = getfield(mod, Symbol("f!"))
    if delays
        h = history === nothing ? Base.invokelatest(mod.constant_history, copy(u0)) :
            python_history(history, eltype(u0))
        lags = Base.invokelatest(mod.lags, p)
        fun = use_jac ? DDEFunction(f; jac = getfield(mod, Symbol("jac!"))) : DDEFunction(f)
        prob = DDEProblem(fun, u0, h, tspan, p; constant_lags = lags)
        alg = MethodOfSteps(alg)
    else
        fun = use_jac ? ODEFunction(f; jac = getfield(mod, Symbol("jac!"))) : ODEFunction(f)
        prob = ODEProblem(fun, u0, tspan, p)
    end
    sol = Base.invokelatest(solve, prob, alg; saveat = times, save_end = true,
                            save_start = true, kwargs...)
    states = isempty(sol.u) ? zeros(eltype(u0), 0, length(u0)) : permutedims(reduce(hcat, sol.u))
    final = isempty(sol.u) ? u0 : sol.u[end]
    return (string(sol.retcode), collect(sol.t), states, final)
end

end  # module RatesJuliaDriver
