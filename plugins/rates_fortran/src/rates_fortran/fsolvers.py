"""Fortran text of the solver loops and helpers, appended to every generated module.

``{YT}`` is the type of the state vector (``real(dp)`` or ``complex(dp)``). The fixed-step loop
reads the delayed connections from the ring of its last steps (``ring_read_``: offsets and
Hermite positions fixed for the run, no search) and calls ``eval_`` (the packed-argument vector
field); Dormand-Prince calls ``stage_``, which reads them from the history of accepted steps by
binary search. The driver ``rates_solve`` is the one entry point the Python side calls for a
whole integration.
"""

from __future__ import annotations

from fractions import Fraction

from rates_core.codegen.tableaux import DOPRI5

__all__ = ["HELPERS", "SOLVER"]

#: Elemental helpers the printed expressions use.
HELPERS = r"""
  elemental function round_even_(x) result(r)
    !! round half to even, like numpy.round
    real(dp), intent(in) :: x
    real(dp) :: r
    r = anint(x)
    if (abs(x - aint(x)) == 0.5_dp) r = 2.0_dp*anint(0.5_dp*x)
  end function round_even_

  elemental function sign_r_(x) result(r)
    !! sign of a real number, 0 at 0 (numpy.sign)
    real(dp), intent(in) :: x
    real(dp) :: r
    if (x > 0.0_dp) then
      r = 1.0_dp
    else if (x < 0.0_dp) then
      r = -1.0_dp
    else
      r = x
    end if
  end function sign_r_

  elemental function sign_c_(x) result(r)
    !! sign of a complex number: x/|x|, 0 at 0
    complex(dp), intent(in) :: x
    complex(dp) :: r
    if (abs(x) == 0.0_dp) then
      r = x
    else
      r = x/abs(x)
    end if
  end function sign_c_

  function matvec_rr_(a, x) result(r)
    !! dense matrix times vector: four columns per pass over r, which gfortran -O3 vectorises
    !! (faster than the intrinsic matmul and the reference BLAS dgemv; benchmarks/README.md)
    real(dp), intent(in), contiguous :: a(:, :), x(:)
    real(dp) :: r(size(a, 1))
    integer :: i, j, n
    n = size(a, 2)
    r = 0.0_dp
    do j = 1, n - 3, 4
      do i = 1, size(a, 1)
        r(i) = r(i) + a(i, j)*x(j) + a(i, j + 1)*x(j + 1) + a(i, j + 2)*x(j + 2) &
               + a(i, j + 3)*x(j + 3)
      end do
    end do
    do j = n - mod(n, 4) + 1, n
      r = r + a(:, j)*x(j)
    end do
  end function matvec_rr_

  function matvec_rc_(a, x) result(r)
    real(dp), intent(in) :: a(:, :)
    complex(dp), intent(in) :: x(:)
    complex(dp) :: r(size(a, 1))
    r = matmul(a, x)
  end function matvec_rc_

  function matvec_cr_(a, x) result(r)
    complex(dp), intent(in) :: a(:, :)
    real(dp), intent(in) :: x(:)
    complex(dp) :: r(size(a, 1))
    r = matmul(a, x)
  end function matvec_cr_

  function matvec_cc_(a, x) result(r)
    complex(dp), intent(in) :: a(:, :), x(:)
    complex(dp) :: r(size(a, 1))
    r = matmul(a, x)
  end function matvec_cc_

  function csr_matvec_(a, col, ptr, x) result(r)
    !! sparse (CSR, 0-based indices) matrix times vector
    real(dp), intent(in) :: a(:), x(:)
    integer(i8), intent(in) :: col(:), ptr(:)
    real(dp) :: r(size(ptr) - 1)
    integer :: i
    integer(i8) :: k
    do i = 1, size(ptr) - 1
      r(i) = 0.0_dp
      do k = ptr(i) + 1, ptr(i + 1)
        r(i) = r(i) + a(k)*x(col(k) + 1)
      end do
    end do
  end function csr_matvec_

  function interp_s_(x, xp, fp) result(r)
    !! linear interpolation of (xp, fp) at x, constant outside (numpy.interp)
    real(dp), intent(in) :: x, xp(:), fp(:)
    real(dp) :: r
    integer :: lo, hi, mid, n
    n = size(xp)
    if (x <= xp(1)) then
      r = fp(1)
      return
    end if
    if (x >= xp(n)) then
      r = fp(n)
      return
    end if
    lo = 1
    hi = n
    do while (hi - lo > 1)
      mid = (lo + hi)/2
      if (xp(mid) <= x) then
        lo = mid
      else
        hi = mid
      end if
    end do
    r = fp(lo) + (x - xp(lo))*(fp(hi) - fp(lo))/(xp(hi) - xp(lo))
  end function interp_s_

  function interp_v_(x, xp, fp) result(r)
    real(dp), intent(in) :: x(:), xp(:), fp(:)
    real(dp) :: r(size(x))
    integer :: i
    do i = 1, size(x)
      r(i) = interp_s_(x(i), xp, fp)
    end do
  end function interp_v_

  function randn_() result(z)
    !! a standard normal sample (Box-Muller on the intrinsic generator)
    real(dp) :: z, u1, u2
    call random_number(u1)
    call random_number(u2)
    z = sqrt(-2.0_dp*log(1.0_dp - u1))*cos(6.283185307179586_dp*u2)
  end function randn_

  function randn_vec_(n) result(z)
    integer, intent(in) :: n
    real(dp) :: z(n)
    integer :: i
    do i = 1, n
      z(i) = randn_()
    end do
  end function randn_vec_
"""

#: The history of delayed connections and the integration driver.
SOLVER = r"""
  ! ------------------------------------------------------------------ history of delays

  subroutine hist_append_(h, t, y)
    !! store the accepted point (t, y); its derivative follows with hist_set_f_
    type(history_t), intent(inout) :: h
    real(dp), intent(in) :: t
    {YT}, intent(in) :: y(n_states)
    real(dp), allocatable :: tt(:)
    {YT}, allocatable :: yy(:, :), ff(:, :), fl(:, :)
    integer :: live, cap
    if (h%n_conn == 0) return
    ! drop points no read can reach any more (keep one before t - tau_max)
    do while (h%first + 1 < h%n)
      if (h%tt(h%first + 1) >= t - h%tau_max - 1.0e-12_dp*max(1.0_dp, abs(t))) exit
      h%first = h%first + 1
    end do
    if (h%n == size(h%tt)) then
      live = h%n - h%first + 1
      cap = size(h%tt)
      if (live > cap/2) cap = 2*cap
      allocate (tt(cap), yy(n_states, cap), ff(n_states, cap), fl(n_states, cap))
      tt(1:live) = h%tt(h%first:h%n)
      yy(:, 1:live) = h%yy(:, h%first:h%n)
      ff(:, 1:live) = h%ff(:, h%first:h%n)
      fl(:, 1:live) = h%fl(:, h%first:h%n)
      call move_alloc(tt, h%tt)
      call move_alloc(yy, h%yy)
      call move_alloc(ff, h%ff)
      call move_alloc(fl, h%fl)
      h%n = live
      h%first = 1
    end if
    h%n = h%n + 1
    h%tt(h%n) = t
    h%yy(:, h%n) = y
    h%last_f = .false.
  end subroutine hist_append_

  subroutine hist_set_f_(h, f)
    !! the derivative at the last point (both sides, see hist_set_left_)
    type(history_t), intent(inout) :: h
    {YT}, intent(in) :: f(n_states)
    if (h%n_conn == 0) return
    h%ff(:, h%n) = f
    h%fl(:, h%n) = f
    h%last_f = .true.
  end subroutine hist_set_f_

  subroutine hist_set_left_(h, f)
    !! the left-side derivative at the last point (the field with the input row before it),
    !! the right-end slope of the interval ending there; after hist_set_f_
    type(history_t), intent(inout) :: h
    {YT}, intent(in) :: f(n_states)
    if (h%n_conn == 0) return
    h%fl(:, h%n) = f
  end subroutine hist_set_left_

  function hermite_(ya, fa, yb, fb, dt, theta) result(v)
    {YT}, intent(in) :: ya, fa, yb, fb
    real(dp), intent(in) :: dt, theta
    {YT} :: v
    real(dp) :: th
    th = theta
    if (abs(th) < 1.0e-9_dp) then
      v = ya
      return
    end if
    if (abs(th - 1.0_dp) < 1.0e-9_dp) then
      v = yb
      return
    end if
    v = (1.0_dp + 2.0_dp*th)*(1.0_dp - th)**2*ya + th*(1.0_dp - th)**2*dt*fa &
        + th**2*(3.0_dp - 2.0_dp*th)*yb - th**2*(1.0_dp - th)*dt*fb
  end function hermite_

  function pre_read_(h, r, p) result(v)
    !! the pre-history at position p and time r < t0: y0, or the cubic Hermite interpolant
    !! of Problem.history's samples at t0 - n_pre*pre_dt .. t0 (index 1 .. n_pre + 1)
    type(history_t), intent(in) :: h
    real(dp), intent(in) :: r
    integer, intent(in) :: p
    {YT} :: v
    integer :: k
    real(dp) :: dt
    if (h%n_pre == 0) then
      v = h%y0(p)
      return
    end if
    dt = h%pre_dt
    k = int(floor((r - (h%t0 - h%n_pre*dt))/dt)) + 1
    k = max(1, min(k, h%n_pre))
    v = hermite_(h%pre_y(p, k), h%pre_f(p, k), h%pre_y(p, k + 1), h%pre_f(p, k + 1), dt, &
                 (r - (h%t0 - (h%n_pre - k + 1)*dt))/dt)
  end function pre_read_

  function hist_read_(h, r, p) result(v)
    !! the state value at position p and time r (pre-history before t0)
    type(history_t), intent(in) :: h
    real(dp), intent(in) :: r
    integer, intent(in) :: p
    {YT} :: v
    integer :: m, lo, hi, mid
    real(dp) :: dt
    if (r < h%t0) then
      v = pre_read_(h, r, p)
      return
    end if
    m = h%n
    if (.not. h%last_f) m = h%n - 1
    if (m < h%first) then
      ! nothing with a derivative yet: the first stage of the first step
      v = h%yy(p, h%n)
      return
    end if
    if (r >= h%tt(m)) then
      if (m == h%first) then
        v = h%yy(p, m) + (r - h%tt(m))*h%ff(p, m)
      else
        dt = h%tt(m) - h%tt(m - 1)
        v = hermite_(h%yy(p, m - 1), h%ff(p, m - 1), h%yy(p, m), h%fl(p, m), dt, &
                     (r - h%tt(m - 1))/dt)
      end if
      return
    end if
    lo = h%first
    hi = m
    do while (hi - lo > 1)
      mid = (lo + hi)/2
      if (h%tt(mid) <= r) then
        lo = mid
      else
        hi = mid
      end if
    end do
    dt = h%tt(hi) - h%tt(lo)
    v = hermite_(h%yy(p, lo), h%ff(p, lo), h%yy(p, hi), h%fl(p, hi), dt, (r - h%tt(lo))/dt)
  end function hist_read_

  subroutine stage_(h, t, y, dy, prw, pc, pi)
    !! the vector field at a stage: delayed connections from the history, then eval_
    type(history_t), intent(in) :: h
    real(dp), intent(in) :: t
    {YT}, intent(in) :: y(n_states)
    {YT}, intent(out) :: dy(n_states)
    real(dp), intent(in) :: prw(*)
    complex(dp), intent(in) :: pc(*)
    integer(i8), intent(in) :: pi(*)
    {YT} :: dl(n_delayed + 1)
    integer :: k
    do k = 1, h%n_conn
      if (h%tau(k) == 0.0_dp) then
        dl(k) = y(h%pos(k))
      else
        dl(k) = hist_read_(h, t - h%tau(k), h%pos(k))
      end if
    end do
    call eval_(t, y, dy, dl, prw, pc, pi)
  end subroutine stage_

  ! ------------------------------------------------------------------ ring of the fixed steps

  subroutine ring_store_y_(rg, n, y)
    !! row n: the accepted state y_n (its slopes 0 until f_n is known, so that a read at
    !! theta 0 of the row before is exactly that row's state)
    type(ring_t), intent(inout) :: rg
    integer(i8), intent(in) :: n
    {YT}, intent(in) :: y(n_states)
    integer(i8) :: i, twin
    integer :: j
    twin = rg%d*rg%rs
    do j = 1, rg%ncols
      i = 1 + mod(n, rg%d)*rg%rs + (j - 1)*rg%cs
      rg%ring(i) = y(rg%tracked(j))
      if (rg%nrec > 1) rg%ring(i + 1:i + rg%nrec - 1) = 0.0_dp
      rg%ring(i + twin:i + twin + rg%nrec - 1) = rg%ring(i:i + rg%nrec - 1)
    end do
  end subroutine ring_store_y_

  subroutine ring_store_f_(rg, n, f, fl, dt)
    !! row n's slopes dt*f_n (the first stage of step n, the slope at the left end of
    !! [t_n, t_n+1]) and, in records of 3, dt*fl (the left side where an input jumps at t_n,
    !! the slope at the right end of [t_n-1, t_n]); at n = 0 also row -1, the Taylor line
    !! y0 + (t - t0) f0 that reads inside the first step extrapolate
    type(ring_t), intent(inout) :: rg
    integer(i8), intent(in) :: n
    {YT}, intent(in) :: f(n_states), fl(n_states)
    real(dp), intent(in) :: dt
    integer(i8) :: i, ip, twin, last
    integer :: j
    twin = rg%d*rg%rs
    last = rg%nrec - 1
    do j = 1, rg%ncols
      i = 1 + mod(n, rg%d)*rg%rs + (j - 1)*rg%cs
      rg%ring(i + last) = dt*f(rg%tracked(j))
      if (rg%nrec == 3) rg%ring(i + 1) = dt*fl(rg%tracked(j))
      rg%ring(i + twin:i + twin + last) = rg%ring(i:i + last)
      if (n == 0) then
        ip = 1 + (rg%d - 1)*rg%rs + (j - 1)*rg%cs
        rg%ring(ip) = rg%ring(i) - rg%ring(i + last)
        rg%ring(ip + 1:ip + last) = rg%ring(i + last)
        rg%ring(ip + twin:ip + twin + last) = rg%ring(ip:ip + last)
      end if
    end do
  end subroutine ring_store_f_

  subroutine ring_read_(rg, h, p, n, y, dl, conn, off, theta, s, dt)
    !! the delayed values of stage plan p of step n into dl: per connection one record at an
    !! offset fixed for the run (direct plans), or the two records of its interval and the
    !! cubic Hermite polynomial at theta; the pre-history where the read time is before t0,
    !! the stage state y for delay 0
    type(ring_t), intent(in) :: rg
    type(history_t), intent(in) :: h
    integer, intent(in) :: p
    integer(i8), intent(in) :: n
    {YT}, intent(in) :: y(n_states)
    {YT}, intent(out) :: dl(:)
    integer(c_int), intent(in) :: conn(h%n_conn), off(h%n_conn, *)
    real(dp), intent(in) :: theta(h%n_conn, *), s(h%n_conn, *)
    real(dp), intent(in) :: dt
    {YT} :: y0, d0, y1, d1
    integer(i8) :: base, i, k0, k1, k2
    integer :: k
    real(dp) :: th
    base = mod(n, rg%d)*rg%rs
    if (rg%direct(p)) then
      do k = 1, h%n_conn
        dl(conn(k)) = rg%ring(base + off(k, p))
      end do
    else
      ! record r: y, [left slope,] slope; the interval's right end is record r + 1
      k0 = rg%nrec - 1
      k1 = rg%nrec
      k2 = rg%nrec + 1
      do k = 1, h%n_conn
        i = base + off(k, p)
        th = theta(k, p)
        y0 = rg%ring(i)
        d0 = rg%ring(i + k0)
        y1 = rg%ring(i + k1)
        d1 = rg%ring(i + k2)
        dl(conn(k)) = y0 + th*(d0 + th*((3.0_dp*(y1 - y0) - 2.0_dp*d0 - d1) &
                                        + th*(2.0_dp*(y0 - y1) + d0 + d1)))
      end do
    end if
    if (n < rg%n_pre(p)) then
      do k = 1, h%n_conn
        if (s(k, p) < -real(n, dp)) then
          dl(conn(k)) = pre_read_(h, h%t0 + (n + s(k, p))*dt, h%pos(conn(k)))
        end if
      end do
    end if
    call ring_zero_(rg, h, y, dl)
  end subroutine ring_read_

  subroutine ring_zero_(rg, h, y, dl)
    !! the connections with delay 0 read the stage state y
    type(ring_t), intent(in) :: rg
    type(history_t), intent(in) :: h
    {YT}, intent(in) :: y(n_states)
    {YT}, intent(inout) :: dl(:)
    integer :: k
    do k = 1, rg%n_zero
      dl(rg%zero(k)) = y(h%pos(rg%zero(k)))
    end do
  end subroutine ring_zero_

  subroutine reads_(rg, h, p, n, y, dl, conn, off, theta, s, dt, again)
    !! the delayed values of a stage with plan p of step n; ``again``: dl already holds them
    !! (read at the same times by an earlier stage), only delay 0 follows the stage state
    type(ring_t), intent(in) :: rg
    type(history_t), intent(in) :: h
    integer, intent(in) :: p
    integer(i8), intent(in) :: n
    {YT}, intent(in) :: y(n_states)
    {YT}, intent(inout) :: dl(:)
    integer(c_int), intent(in) :: conn(h%n_conn), off(h%n_conn, *)
    real(dp), intent(in) :: theta(h%n_conn, *), s(h%n_conn, *), dt
    logical, intent(in) :: again
    if (again) then
      call ring_zero_(rg, h, y, dl)
    else
      call ring_read_(rg, h, p, n, y, dl, conn, off, theta, s, dt)
    end if
  end subroutine reads_

  ! ------------------------------------------------------------------ inputs

  subroutine set_row_(k, n_in, in_pos, n_rows, series, prw)
    !! fixed step: input row k (0-based, clamped) for the whole step
    integer(i8), intent(in) :: k, n_rows
    integer(c_int), intent(in) :: n_in
    integer(i8), intent(in) :: in_pos(*)
    real(dp), intent(in) :: series(n_in, *)
    real(dp), intent(inout) :: prw(*)
    integer :: j
    integer(i8) :: row
    if (n_in == 0) return
    row = min(max(k, 0_i8), n_rows - 1) + 1
    do j = 1, n_in
      prw(in_pos(j)) = series(j, row)
    end do
  end subroutine set_row_

  subroutine set_time_(t, n_in, in_pos, n_rows, times, series, prw)
    !! adaptive: input rows interpolated linearly at t (constant outside the grid)
    real(dp), intent(in) :: t
    integer(c_int), intent(in) :: n_in
    integer(i8), intent(in) :: in_pos(*), n_rows
    real(dp), intent(in) :: times(*), series(n_in, *)
    real(dp), intent(inout) :: prw(*)
    integer(i8) :: lo, hi, mid
    real(dp) :: w
    integer :: j
    if (n_in == 0) return
    if (n_rows == 1 .or. t <= times(1)) then
      prw(in_pos(1:n_in)) = series(:, 1)
      return
    end if
    if (t >= times(n_rows)) then
      prw(in_pos(1:n_in)) = series(:, n_rows)
      return
    end if
    lo = 1
    hi = n_rows
    do while (hi - lo > 1)
      mid = (lo + hi)/2
      if (times(mid) <= t) then
        lo = mid
      else
        hi = mid
      end if
    end do
    w = (t - times(lo))/(times(lo + 1) - times(lo))
    do j = 1, n_in
      prw(in_pos(j)) = series(j, lo) + w*(series(j, lo + 1) - series(j, lo))
    end do
  end subroutine set_time_

  ! ------------------------------------------------------------------ driver

  subroutine rates_solve(method, n_steps, every, n_samples, t0, dt, t_end, rtol, atol, hmax, &
                         max_steps, y0, out, yfinal, pr, pc, pi, n_in, in_pos, n_rows, &
                         in_times, series, n_conn, conn_pos, conn_tau, n_pre, pre_dt, pre_y, &
                         pre_f, seed, status, stats, ring_i, ring_tracked, ring_zero, &
                         ring_conn, ring_off, ring_theta, ring_s) bind(c, name="rates_solve")
    !! Integrate from t0: method 1 euler, 2 heun, 3 rk4 (n_steps steps of dt, the state after
    !! every `every` steps sampled), 4 Dormand-Prince 5(4) (rtol, atol; samples at
    !! t0 + k*dt*every, integration up to t_end). out(:, 1) is y0.
    !! status: 0 ok, 1 step size underflow, 2 max_steps, 3 non-finite derivative at t0
    !! (stats(1): the 1-based state index), 4 no memory for the ring of delayed reads.
    !! Fixed steps read delays from a ring (ring_t) laid out by the Python side: ring_i holds
    !! rows D, record length, row and column strides, tracked columns, zero-delay connections,
    !! stage plans, then per plan its first step without pre-history reads and whether all its
    !! reads fall on rows, then 1 (carry: the last stage, at t_n+1, reads what the first stage
    !! of step n+1 reads) + 2 (held: every stage of a step reads the same, delays="grid");
    !! ring_conn the connection of each read (reads go in the order of their place in the
    !! ring), ring_off / ring_theta / ring_s (n_conn, plans) the offsets, Hermite positions
    !! and read positions (steps) of every connection.
    integer(c_int), value :: method, n_in, n_conn, n_pre
    integer(i8), value :: n_steps, every, n_samples, max_steps, n_rows, seed
    real(dp), value :: t0, dt, t_end, rtol, atol, hmax, pre_dt
    {YT}, intent(in) :: y0(n_states)
    {YT}, intent(inout) :: out(n_states, n_samples)
    {YT}, intent(out) :: yfinal(n_states)
    real(dp), intent(in) :: pr(n_real + 1)
    complex(dp), intent(in) :: pc(n_complex + 1)
    integer(i8), intent(in) :: pi(n_int + 1)
    integer(i8), intent(in) :: in_pos(*)
    real(dp), intent(in) :: in_times(*), series(max(n_in, 1), *)
    integer(i8), intent(in) :: conn_pos(*)
    real(dp), intent(in) :: conn_tau(*)
    {YT}, intent(in) :: pre_y(n_states, *), pre_f(n_states, *)
    integer(c_int), intent(out) :: status
    integer(i8), intent(out) :: stats(4)
    integer(i8), intent(in) :: ring_i(14), ring_tracked(*), ring_zero(*)
    integer(c_int), intent(in) :: ring_conn(*), ring_off(*)
    real(dp), intent(in) :: ring_theta(*), ring_s(*)
    real(dp) :: prw(n_real + 1)
    type(history_t) :: h
    type(ring_t) :: rg
    integer, allocatable :: seeds(:)
    integer :: ns, j

    status = 0
    stats = 0
    prw = pr
    if (seed >= 0) then
      call random_seed(size=ns)
      allocate (seeds(ns))
      do j = 1, ns
        seeds(j) = int(mod(seed*1103515245_i8 + 12345_i8*j + 7919_i8*j*j, 2147483647_i8))
      end do
      call random_seed(put=seeds)
    else
      call random_seed()
    end if
    ! the history of the delayed connections
    h%n_conn = n_conn
    h%t0 = t0
    h%n_pre = n_pre
    h%pre_dt = pre_dt
    allocate (h%pos(max(n_conn, 1)), h%tau(max(n_conn, 1)), h%y0(n_states))
    h%y0 = y0
    h%tau_max = 0.0_dp
    if (n_conn > 0) then
      h%pos = int(conn_pos(1:n_conn))
      h%tau = conn_tau(1:n_conn)
      h%tau_max = maxval(h%tau)
    end if
    allocate (h%pre_y(n_states, n_pre + 1), h%pre_f(n_states, n_pre + 1))
    if (n_pre > 0) then
      h%pre_y = pre_y(:, 1:n_pre + 1)
      h%pre_f = pre_f(:, 1:n_pre + 1)
    end if
    out(:, 1) = y0
    if (method <= 3) then
      if (n_conn > 0) then
        call ring_init_(rg, ring_i, ring_tracked, ring_zero, status)
        if (status /= 0) then
          yfinal = y0
          return
        end if
      end if
      if (n_conn == 0 .and. n_in == 0) then
        call plain_(method, n_steps, every, n_samples, t0, dt, y0, out, yfinal, pr, pc, pi, &
                    stats)
      else
        call fixed_(method, n_steps, every, n_samples, t0, dt, y0, out, yfinal, prw, pc, pi, &
                    n_in, in_pos, n_rows, series, h, rg, ring_conn, ring_off, ring_theta, &
                    ring_s, stats)
      end if
    else
      allocate (h%tt(64), h%yy(n_states, 64), h%ff(n_states, 64), h%fl(n_states, 64))
      h%n = 0
      h%first = 1
      call dopri5_(n_samples, t0, dt*every, t_end, rtol, atol, hmax, max_steps, y0, out, yfinal, &
                   prw, pc, pi, n_in, in_pos, n_rows, in_times, series, h, status, stats)
    end if
  end subroutine rates_solve

  subroutine ring_init_(rg, ring_i, tracked, zero, status)
    !! the ring of D rows (stored twice, rows j and j + D, so that every read is one offset
    !! from the row of the current step) of the tracked columns, see rates_solve
    type(ring_t), intent(out) :: rg
    integer(i8), intent(in) :: ring_i(14), tracked(*), zero(*)
    integer(c_int), intent(out) :: status
    integer :: p, err
    rg%d = ring_i(1)
    rg%nrec = int(ring_i(2))
    rg%rs = ring_i(3)
    rg%cs = ring_i(4)
    rg%ncols = int(ring_i(5))
    rg%n_zero = int(ring_i(6))
    rg%n_plans = int(ring_i(7))
    allocate (rg%tracked(rg%ncols), rg%zero(max(rg%n_zero, 1)))
    rg%tracked = int(tracked(1:rg%ncols))
    rg%zero(1:rg%n_zero) = int(zero(1:rg%n_zero))
    do p = 1, rg%n_plans
      rg%n_pre(p) = ring_i(7 + p)
      rg%direct(p) = ring_i(10 + p) /= 0
    end do
    rg%hermite = .not. all(rg%direct(1:rg%n_plans))
    rg%carry = iand(ring_i(14), 1_i8) /= 0
    rg%held = iand(ring_i(14), 2_i8) /= 0
    allocate (rg%ring(2*rg%d*rg%nrec*rg%ncols), stat=err)
    status = 0
    if (err /= 0) then
      status = 4
      return
    end if
    rg%ring = 0.0_dp
  end subroutine ring_init_

  subroutine plain_(method, n_steps, every, n_samples, t0, dt, y0, out, yfinal, pr, pc, pi, stats)
    !! fixed_ for models without inputs and delays: nothing writes the parameters in the loop
    !! (fixed_ writes input rows into its copy), so the compiler can hoist what depends on them
    !! alone (quotients, powers, products of constants) out of it, as it folds constants in a
    !! hand-written loop, where the field is inlined (euler_step_); and one loop per method
    integer(c_int), intent(in) :: method
    integer(i8), intent(in) :: n_steps, every, n_samples
    real(dp), intent(in) :: t0, dt
    {YT}, intent(in) :: y0(n_states)
    {YT}, intent(inout) :: out(n_states, n_samples)
    {YT}, intent(out) :: yfinal(n_states)
    real(dp), intent(in) :: pr(*)
    complex(dp), intent(in) :: pc(*)
    integer(i8), intent(in) :: pi(*)
    integer(i8), intent(inout) :: stats(4)
    {YT} :: y(n_states), y1(n_states), k1(n_states), k2(n_states), k3(n_states), k4(n_states)
    {YT} :: dl(1)
    integer(i8) :: k, row, until_sample
    real(dp) :: tk, dt2, dt6
    y = y0
    dl = 0.0_dp
    dt2 = 0.5_dp*dt
    dt6 = dt/6.0_dp
    row = 1
    until_sample = every
    select case (method)
    case (1)
      do k = 0, n_steps - 1
        call euler_step_(t0 + k*dt, dt, y, dl, pr, pc, pi)
        call sample_(y, out, n_samples, every, row, until_sample)
      end do
    case (2)
      do k = 0, n_steps - 1
        tk = t0 + k*dt
        call eval_(tk, y, k1, dl, pr, pc, pi)
        y1 = y + dt*k1
        call eval_(tk + dt, y1, k2, dl, pr, pc, pi)
        y = y + dt2*(k1 + k2)
        call sample_(y, out, n_samples, every, row, until_sample)
      end do
    case default
      do k = 0, n_steps - 1
        tk = t0 + k*dt
        call eval_(tk, y, k1, dl, pr, pc, pi)
        y1 = y + dt2*k1
        call eval_(tk + dt2, y1, k2, dl, pr, pc, pi)
        y1 = y + dt2*k2
        call eval_(tk + dt2, y1, k3, dl, pr, pc, pi)
        y1 = y + dt*k3
        call eval_(tk + dt, y1, k4, dl, pr, pc, pi)
        y = y + dt6*((k1 + k4) + 2.0_dp*(k2 + k3))
        call sample_(y, out, n_samples, every, row, until_sample)
      end do
    end select
    stats(1) = n_steps
    stats(2) = n_steps
    yfinal = y
  end subroutine plain_

  subroutine sample_(y, out, n_samples, every, row, until_sample)
    !! one step done: count down to the next sample (no division per step) and store ``y``
    !! as the next row of ``out`` when it is due
    integer(i8), intent(in) :: n_samples, every
    {YT}, intent(in) :: y(n_states)
    {YT}, intent(inout) :: out(n_states, n_samples)
    integer(i8), intent(inout) :: row, until_sample
    until_sample = until_sample - 1
    if (until_sample == 0) then
      until_sample = every
      if (row < n_samples) then
        row = row + 1
        out(:, row) = y
      end if
    end if
  end subroutine sample_

  subroutine fixed_(method, n_steps, every, n_samples, t0, dt, y0, out, yfinal, prw, pc, pi, &
                    n_in, in_pos, n_rows, series, h, rg, conn, off, theta, s, stats)
    integer(c_int), intent(in) :: method, n_in
    integer(i8), intent(in) :: n_steps, every, n_samples, n_rows
    real(dp), intent(in) :: t0, dt
    {YT}, intent(in) :: y0(n_states)
    {YT}, intent(inout) :: out(n_states, n_samples)
    {YT}, intent(out) :: yfinal(n_states)
    real(dp), intent(inout) :: prw(*)
    complex(dp), intent(in) :: pc(*)
    integer(i8), intent(in) :: pi(*), in_pos(*)
    real(dp), intent(in) :: series(max(n_in, 1), *)
    type(history_t), intent(in) :: h
    type(ring_t), intent(inout) :: rg
    integer(c_int), intent(in) :: conn(*), off(max(h%n_conn, 1), *)
    real(dp), intent(in) :: theta(max(h%n_conn, 1), *), s(max(h%n_conn, 1), *)
    integer(i8), intent(inout) :: stats(4)
    {YT} :: y(n_states), y1(n_states), k1(n_states), k2(n_states), k3(n_states), k4(n_states)
    {YT}, allocatable :: dl(:)
    real(dp), allocatable :: held(:)
    integer(i8) :: k, row, until_sample
    real(dp) :: tk, dt2, dt6
    logical :: delayed, slopes, same
    y = y0
    dt2 = 0.5_dp*dt
    dt6 = dt/6.0_dp
    row = 1
    until_sample = every  ! steps to the next sample: a countdown, not a division per step
    delayed = h%n_conn > 0
    allocate (dl(n_delayed + 1), held(n_held + 1))
    dl = 0.0_dp
    held = 0.0_dp
    ! a stage whose read repeats the previous stage's (same delayed values: grid's held reads,
    ! rk4's second read at t + dt/2) with no connection of delay 0 (which reads the stage
    ! state) reuses the held algebraic variables computed from them, for the parameters of
    ! this step's input row (eval_held_): a coupling sum once per step, not once per stage
    same = delayed .and. rg%n_zero == 0
    ! reads between the step points (rk4's half steps, delays off the grid) interpolate with
    ! derivatives: where an input row changes they need its left side as well, when the input
    ! enters a delayed variable's derivative (records of 3, see Ring in solvers.py)
    slopes = delayed .and. rg%nrec == 3
    do k = 0, n_steps - 1
      tk = t0 + k*dt
      call set_row_(k, n_in, in_pos, n_rows, series, prw)
      if (delayed) then
        call ring_store_y_(rg, k, y)
        ! the last stage of step k - 1 (at t_k, carry) read what this stage reads
        call reads_(rg, h, 1, k, y, dl, conn, off, theta, s, dt, k > 0 .and. rg%carry)
      end if
      call eval_held_(tk, y, k1, dl, prw, pc, pi, held, .false.)
      if (delayed .and. rg%hermite) then
        if (slopes .and. k > 0 .and. k < n_rows) then
          if (any(series(1:n_in, k + 1) /= series(1:n_in, k))) then
            ! the input jumps at tk: the slope before it, with row k - 1 and the same
            ! delayed values
            call set_row_(k - 1, n_in, in_pos, n_rows, series, prw)
            call eval_(tk, y, k2, dl, prw, pc, pi)
            call set_row_(k, n_in, in_pos, n_rows, series, prw)
            call ring_store_f_(rg, k, k1, k2, dt)
          else
            call ring_store_f_(rg, k, k1, k1, dt)
          end if
        else
          call ring_store_f_(rg, k, k1, k1, dt)
        end if
      end if
      select case (method)
      case (1)
        y = y + dt*k1
      case (2)
        y1 = y + dt*k1
        if (delayed) call reads_(rg, h, 2, k, y1, dl, conn, off, theta, s, dt, rg%held)
        call eval_held_(tk + dt, y1, k2, dl, prw, pc, pi, held, same .and. rg%held)
        y = y + dt2*(k1 + k2)
      case default
        y1 = y + dt2*k1
        if (delayed) call reads_(rg, h, 2, k, y1, dl, conn, off, theta, s, dt, rg%held)
        call eval_held_(tk + dt2, y1, k2, dl, prw, pc, pi, held, same .and. rg%held)
        y1 = y + dt2*k2
        if (delayed) call reads_(rg, h, 2, k, y1, dl, conn, off, theta, s, dt, .true.)
        call eval_held_(tk + dt2, y1, k3, dl, prw, pc, pi, held, same)
        y1 = y + dt*k3
        if (delayed) call reads_(rg, h, 3, k, y1, dl, conn, off, theta, s, dt, rg%held)
        call eval_held_(tk + dt, y1, k4, dl, prw, pc, pi, held, same .and. rg%held)
        y = y + dt6*((k1 + k4) + 2.0_dp*(k2 + k3))
      end select
      call sample_(y, out, n_samples, every, row, until_sample)
    end do
    stats(1) = n_steps
    stats(2) = n_steps
    yfinal = y
  end subroutine fixed_

  function err_norm_(e, ya, yb, rtol, atol) result(r)
    {YT}, intent(in) :: e(n_states), ya(n_states), yb(n_states)
    real(dp), intent(in) :: rtol, atol
    real(dp) :: r
    r = sqrt(sum((abs(e)/(atol + rtol*max(abs(ya), abs(yb))))**2)/n_states)
  end function err_norm_

  subroutine dopri5_(n_samples, t0, dts, t_end, rtol, atol, hmax_in, max_steps, y0, out, yfinal, &
                     prw, pc, pi, n_in, in_pos, n_rows, in_times, series, h, status, stats)
    !! Dormand-Prince 5(4) with the standard step control; steps end on the sample times
    integer(i8), intent(in) :: n_samples, max_steps, n_rows
    integer(c_int), intent(in) :: n_in
    real(dp), intent(in) :: t0, dts, t_end, rtol, atol, hmax_in
    {YT}, intent(in) :: y0(n_states)
    {YT}, intent(inout) :: out(n_states, n_samples)
    {YT}, intent(out) :: yfinal(n_states)
    real(dp), intent(inout) :: prw(*)
    complex(dp), intent(in) :: pc(*)
    integer(i8), intent(in) :: pi(*), in_pos(*)
    real(dp), intent(in) :: in_times(*), series(max(n_in, 1), *)
    type(history_t), intent(inout) :: h
    integer(c_int), intent(out) :: status
    integer(i8), intent(inout) :: stats(4)
{DOPRI5}
    {YT} :: y(n_states), yn(n_states), ys(n_states), err(n_states)
    {YT} :: k1(n_states), k2(n_states), k3(n_states), k4(n_states), k5(n_states)
    {YT} :: k6(n_states), k7(n_states)
    real(dp) :: t, hh, hnew, tnext, enorm, fac, hmax, d0, d1
    integer(i8) :: row, steps
    logical :: hit, rejected
    y = y0
    t = t0
    status = 0
    if (t_end <= t0) then
      yfinal = y
      return
    end if
    hmax = hmax_in
    if (.not. (hmax > 0.0_dp)) hmax = huge(1.0_dp)
    if (h%n_conn > 0) then
      ! steps never longer than the smallest positive delay: every read of a stage falls on
      ! an accepted step (method of steps)
      if (any(h%tau(1:h%n_conn) > 0.0_dp)) then
        hmax = min(hmax, minval(h%tau(1:h%n_conn), mask=h%tau(1:h%n_conn) > 0.0_dp))
      end if
    end if
    call set_time_(t, n_in, in_pos, n_rows, in_times, series, prw)
    call hist_append_(h, t, y)
    call stage_(h, t, y, k1, prw, pc, pi)
    if (.not. all(abs(k1) <= huge(1.0_dp))) then
      ! a non-finite derivative at the start (NaN or inf): no step size can follow from it
      status = 3
      stats(1) = findloc(abs(k1) <= huge(1.0_dp), .false., dim=1)
      yfinal = y
      return
    end if
    call hist_set_f_(h, k1)
    stats(4) = 1
    ! initial step (Hairer, Norsett and Wanner, II.4)
    d0 = sqrt(sum((abs(y)/(atol + rtol*abs(y)))**2)/n_states)
    d1 = sqrt(sum((abs(k1)/(atol + rtol*abs(y)))**2)/n_states)
    if (d0 < 1.0e-5_dp .or. d1 < 1.0e-5_dp) then
      hh = 1.0e-6_dp
    else
      hh = 0.01_dp*d0/d1
    end if
    hh = min(hh, hmax, dts)
    row = 1
    tnext = min(t0 + dts, t_end)
    if (n_samples <= 1) tnext = t_end
    steps = 0
    rejected = .false.
    do while (t < t_end)
      if (steps >= max_steps) then
        status = 2
        exit
      end if
      hit = .false.
      hnew = hh
      if (t + hh >= tnext - 1.0e-12_dp*max(abs(tnext), dts)) then
        hh = tnext - t
        hit = .true.
      end if
      if (hh < 1.0e-14_dp*max(abs(t), 1.0_dp)) then
        status = 1
        exit
      end if
      call set_time_(t + c2*hh, n_in, in_pos, n_rows, in_times, series, prw)
      ys = y + hh*(a21*k1)
      call stage_(h, t + c2*hh, ys, k2, prw, pc, pi)
      call set_time_(t + c3*hh, n_in, in_pos, n_rows, in_times, series, prw)
      ys = y + hh*(a31*k1 + a32*k2)
      call stage_(h, t + c3*hh, ys, k3, prw, pc, pi)
      call set_time_(t + c4*hh, n_in, in_pos, n_rows, in_times, series, prw)
      ys = y + hh*(a41*k1 + a42*k2 + a43*k3)
      call stage_(h, t + c4*hh, ys, k4, prw, pc, pi)
      call set_time_(t + c5*hh, n_in, in_pos, n_rows, in_times, series, prw)
      ys = y + hh*(a51*k1 + a52*k2 + a53*k3 + a54*k4)
      call stage_(h, t + c5*hh, ys, k5, prw, pc, pi)
      call set_time_(t + hh, n_in, in_pos, n_rows, in_times, series, prw)
      ys = y + hh*(a61*k1 + a62*k2 + a63*k3 + a64*k4 + a65*k5)
      call stage_(h, t + hh, ys, k6, prw, pc, pi)
      yn = y + hh*(a71*k1 + a73*k3 + a74*k4 + a75*k5 + a76*k6)
      call stage_(h, t + hh, yn, k7, prw, pc, pi)
      stats(4) = stats(4) + 6
      steps = steps + 1
      err = hh*(e1*k1 + e3*k3 + e4*k4 + e5*k5 + e6*k6 + e7*k7)
      enorm = err_norm_(err, y, yn, rtol, atol)
      if (.not. (enorm <= huge(1.0_dp))) enorm = huge(1.0_dp)  ! NaN: reject, shrink by 5
      if (enorm <= 1.0_dp) then
        t = t + hh
        if (hit) t = tnext
        y = yn
        k1 = k7
        call hist_append_(h, t, y)
        call hist_set_f_(h, k1)
        stats(2) = stats(2) + 1
        if (hit) then
          if (t >= t_end) exit
          if (row < n_samples .and. abs(t - (t0 + row*dts)) <= 1.0e-9_dp*dts) then
            row = row + 1
            out(:, row) = y
          end if
          tnext = t_end
          if (row < n_samples) tnext = min(t0 + row*dts, t_end)
        end if
        fac = 0.9_dp*max(enorm, 1.0e-10_dp)**(-0.2_dp)
        if (rejected) fac = min(fac, 1.0_dp)
        hh = min(hmax, (merge(hnew, hh, hit))*min(5.0_dp, max(0.2_dp, fac)))
        rejected = .false.
      else
        stats(3) = stats(3) + 1
        fac = 0.9_dp*enorm**(-0.2_dp)
        hh = hh*max(0.2_dp, fac)
        rejected = .true.
      end if
    end do
    stats(1) = steps
    yfinal = y
  end subroutine dopri5_
"""


def _fraction(x: Fraction) -> str:
    """An exact coefficient as a Fortran ``dp`` expression (``-56.0_dp/15``)."""
    return f"{x.numerator}.0_dp" + (f"/{x.denominator}" if x.denominator != 1 else "")


def dopri5_parameters() -> str:
    """The ``parameter`` lines of ``dopri5_``: ``c2..c5``, ``a21..a76`` and ``e1..e7`` from the
    kit's tableau (zero coefficients are left out; the loop does not use them)."""
    tab = DOPRI5
    named = [(f"c{i + 1}", c) for i, c in enumerate(tab.c[1:5], start=1)]
    for i, row in enumerate(tab.a[1:], start=2):
        named += [(f"a{i}{j}", x) for j, x in enumerate(row, start=1)]
    named += [(f"e{j}", x) for j, x in enumerate(tab.error, start=1)]
    return "".join(
        f"    real(dp), parameter :: {name} = {_fraction(x)}\n" for name, x in named if x
    )


SOLVER = SOLVER.replace("{DOPRI5}\n", dopri5_parameters())
