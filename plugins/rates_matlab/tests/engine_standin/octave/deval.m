function out = deval(sol, xint, idx)
%DEVAL Test stand-in for MATLAB's deval on a SOL of the dde23 stand-in (GNU Octave only: it
%   uses lookup): the solution at the times XINT (columns), by cubic Hermite interpolation
%   of SOL.y and SOL.yp; IDX picks components.
  x = sol.x;
  xint = reshape(xint, 1, []);
  slack = 1e-12 * max(1, max(abs(x([1, end]))));
  if any(xint < x(1) - slack) || any(xint > x(end) + slack)
    error('deval:range', 'deval stand-in: times outside [%g, %g]', x(1), x(end));
  end
  i = min(max(lookup(x, xint), 1), numel(x) - 1);
  h = x(i + 1) - x(i);
  w = (xint - x(i)) ./ h;
  out = (2 * w.^3 - 3 * w.^2 + 1) .* sol.y(:, i) + (w.^3 - 2 * w.^2 + w) .* h .* sol.yp(:, i) ...
        + (-2 * w.^3 + 3 * w.^2) .* sol.y(:, i + 1) + (w.^3 - w.^2) .* h .* sol.yp(:, i + 1);
  if nargin > 2
    out = out(idx, :);
  end
end
