"""Small fully connected neural networks for PINN problems, stored as plain pytrees.

A network is a list of layers, each a dict ``{"w": (fan_in, fan_out), "b": (fan_out,)}``,
so the solver can flatten it with ``jax.tree_util`` like any other parameter pytree.
"""

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp


def init_mlp(key: jax.Array, sizes: Sequence[int], dtype=jnp.float64) -> list[dict]:
    """Initialize a multilayer perceptron with Glorot-normal weights and zero biases.

    Parameters
    ----------
    key : jax.Array
        PRNG key, e.g. ``jax.random.PRNGKey(0)``.
    sizes : sequence of int
        Layer widths from input to output, e.g. ``[2, 32, 32, 1]``.
    dtype : dtype, optional
        Floating-point type of the weights and biases.

    Returns
    -------
    list of dict
        One ``{"w", "b"}`` dict per layer, with ``w`` of shape ``(fan_in, fan_out)``.

    Notes
    -----
    The weights come from ``jax.nn.initializers.glorot_normal``, which draws from a normal
    distribution truncated at two standard deviations and rescaled to variance
    ``2 / (fan_in + fan_out)``.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output width, got {sizes}")
    if any(size < 1 for size in sizes):
        raise ValueError(f"every layer width must be a positive integer, got {sizes}")

    glorot_normal = jax.nn.initializers.glorot_normal()
    layer_keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for layer_key, fan_in, fan_out in zip(layer_keys, sizes[:-1], sizes[1:], strict=True):
        layers.append(
            {
                "w": glorot_normal(layer_key, (fan_in, fan_out), dtype),
                "b": jnp.zeros((fan_out,), dtype=dtype),
            }
        )
    return layers


def mlp(
    params: list[dict],
    x: jax.Array,
    activation: Callable[[jax.Array], jax.Array] = jnp.tanh,
) -> jax.Array:
    """Evaluate a multilayer perceptron at one input point.

    Parameters
    ----------
    params : list of dict
        Layers as returned by `init_mlp`.
    x : jax.Array
        One input point of shape ``(d,)``. Use ``jax.vmap`` for a batch of points.
    activation : callable, optional
        Elementwise nonlinearity applied after every layer except the last, which is linear.

    Returns
    -------
    jax.Array
        A scalar when the last layer has width 1, else a vector of the output width.
    """
    hidden = x
    for layer in params[:-1]:
        hidden = activation(hidden @ layer["w"] + layer["b"])

    last = params[-1]
    output = hidden @ last["w"] + last["b"]
    # A scalar output lets jax.grad and jax.hessian take the network directly.
    if output.shape[-1] == 1:
        return output[0]
    return output
