function sol = dde23(ddefun, lags, history, tspan, options)
%DDE23 Test stand-in for MATLAB's dde23 (GNU Octave has none), with MATLAB's interface:
%   SOL = DDE23(DDEFUN, LAGS, HISTORY, TSPAN, OPTIONS) integrates y'(t) = DDEFUN(t, y, Z),
%   Z(:, j) = y(t - LAGS(j)), from TSPAN(1) to TSPAN(end); HISTORY is a constant column,
%   a function of t or an earlier SOL. SOL has the fields x, y, yp and solver, read by
%   DEVAL (cubic Hermite interpolation).
%
%   Not MATLAB's method: classical Runge-Kutta on a uniform grid whose step divides the
%   smallest lag (so the grid holds every breaking point of a constant-lag problem) and
%   is at most MaxStep, InitialStep, 5e-3 and RelTol^(1/4) / 10; delayed values come from cubic Hermite
%   interpolation of the computed solution. Accurate enough to check the calls and the
%   layout of Z of code written for dde23, not a model of its error control.
  if nargin < 5
    options = ddeset();
  end
  t0 = tspan(1);
  t1 = tspan(end);
  lags = reshape(lags, 1, []);
  h = min([5e-3, options.RelTol^0.25 / 10, options.MaxStep, t1 - t0]);
  if ~isempty(options.InitialStep)
    h = min(h, options.InitialStep);
  end
  if ~isempty(lags)
    if any(lags <= 0)
      error('dde23:lags', 'dde23 stand-in: lags must be positive');
    end
    h = min(lags) / ceil(min(lags) / h);
  end
  n_steps = ceil((t1 - t0) / h - 1e-9);
  h = (t1 - t0) / n_steps;
  y_start = past_value(history, t0);
  n = numel(y_start);
  x = t0 + (0:n_steps) * h;
  y = zeros(n, n_steps + 1);
  yp = zeros(n, n_steps + 1);
  y(:, 1) = y_start;
  for k = 1:n_steps
    t = x(k);
    u = y(:, k);
    k1 = ddefun(t, u, delayed(t, lags, history, x, y, yp, k, h));
    yp(:, k) = k1;
    k2 = ddefun(t + h / 2, u + h / 2 * k1, delayed(t + h / 2, lags, history, x, y, yp, k, h));
    k3 = ddefun(t + h / 2, u + h / 2 * k2, delayed(t + h / 2, lags, history, x, y, yp, k, h));
    k4 = ddefun(t + h, u + h * k3, delayed(t + h, lags, history, x, y, yp, k, h));
    y(:, k + 1) = u + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4);
  end
  yp(:, end) = ddefun(x(end), y(:, end), ...
                      delayed(x(end), lags, history, x, y, yp, n_steps + 1, h));
  sol = struct('solver', 'dde23', 'x', x, 'y', y, 'yp', yp, 'history', history);
end

function Z = delayed(t, lags, history, x, y, yp, known, h)
%DELAYED Z(:, j) = y(t - lags(j)) from the history or the first KNOWN grid points.
  Z = zeros(size(y, 1), numel(lags));
  for j = 1:numel(lags)
    s = t - lags(j);
    if s <= x(1) || known < 2
      Z(:, j) = past_value(history, min(s, x(1)));
    else
      i = min(floor((s - x(1)) / h) + 1, known - 1);
      Z(:, j) = hermite(s, x(i), x(i + 1), y(:, i), y(:, i + 1), yp(:, i), yp(:, i + 1));
    end
  end
end

function v = past_value(history, t)
  if isa(history, 'function_handle')
    v = reshape(history(t), [], 1);
  elseif isstruct(history)
    v = deval(history, t);
  else
    v = reshape(history, [], 1);
  end
end

function v = hermite(s, xa, xb, ya, yb, pa, pb)
  h = xb - xa;
  w = (s - xa) / h;
  v = (2 * w^3 - 3 * w^2 + 1) * ya + (w^3 - 2 * w^2 + w) * h * pa ...
      + (-2 * w^3 + 3 * w^2) * yb + (w^3 - w^2) * h * pb;
end
