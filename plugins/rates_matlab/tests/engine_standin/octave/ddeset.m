function options = ddeset(varargin)
%DDESET Test stand-in for MATLAB's ddeset: name / value pairs as a struct.
%   Only what the dde23 stand-in reads: RelTol, AbsTol, MaxStep, InitialStep.
  options = struct('RelTol', 1e-3, 'AbsTol', 1e-6, 'MaxStep', Inf, 'InitialStep', []);
  known = fieldnames(options);
  for k = 1:2:numel(varargin)
    name = varargin{k};
    hit = strcmpi(known, name);
    if ~any(hit)
      error('ddeset:unknown', 'ddeset stand-in: unknown option %s', name);
    end
    options.(known{hit}) = varargin{k + 1};
  end
end
