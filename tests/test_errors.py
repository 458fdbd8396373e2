"""Bad input fails at trace time with a ValueError/TypeError that names the argument and the fix.
One test per case."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxconv as jc

from helpers import EXAMPLES

X = jnp.zeros((2, 4, 8, 8), jnp.float32)
W = jnp.zeros((6, 4, 3, 3), jnp.float32)


def test_conv_input_rank_must_match_kernel():
    with pytest.raises(ValueError, match=r"`x` must be \(N, C, \*spatial\) with 2 spatial axes.*x\[None\]"):
        jc.conv(X[0], W)


def test_conv_kernel_rank():
    with pytest.raises(ValueError, match=r"`w` must be \(D, C // groups, \*kernel\)"):
        jc.conv(X, jnp.zeros((6, 4), jnp.float32))


def test_pool_input_rank():
    with pytest.raises(ValueError, match=r"`x` must be \(N, C, \*spatial\).*got shape \(8, 8\)"):
        jc.max_pool(X[0, 0], 2)


def test_dense_input_rank():
    with pytest.raises(ValueError, match=r"`x` must have 2 dimensions \(N, in_features\)"):
        jc.dense(X, jnp.zeros((256, 10), jnp.float32))


def test_conv_channel_mismatch():
    with pytest.raises(ValueError, match=r"`w` has 3 input channels per group but `x` has 4"):
        jc.conv(X, jnp.zeros((6, 3, 3, 3), jnp.float32))


def test_dense_feature_mismatch():
    with pytest.raises(ValueError, match=r"`x` has 4 features .* `w` expects 5"):
        jc.dense(jnp.zeros((2, 4)), jnp.zeros((5, 3)))


def test_in_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match=r"`in_channels` \(=4, x.shape\[1\]\) must be divisible by `groups` \(=3\)"):
        jc.conv(X, jnp.zeros((6, 1, 3, 3), jnp.float32), groups=3)


def test_out_channels_not_divisible_by_groups():
    with pytest.raises(ValueError, match=r"`out_channels` \(=6, w.shape\[0\]\) must be divisible by `groups` \(=4\)"):
        jc.conv(X, jnp.zeros((6, 1, 3, 3), jnp.float32), groups=4)


def test_non_positive_groups():
    with pytest.raises(ValueError, match=r"`groups` \(=0\) must be a positive int"):
        jc.conv(X, W, groups=0)


def test_dilated_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"kernel `w` \(size 3\) with `dilation` \(=4\) spans 9 on spatial axis 0, more than the padded input `x` \(8 \+ `padding` 0 \+ 0\)"):
        jc.conv(X, W, dilation=4)


def test_window_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"the `window` \(size 9, `dilation` 1\) spans 9 on spatial axis 0, more than the padded input"):
        jc.avg_pool(X, 9)


@pytest.mark.parametrize("name", ["stride", "dilation"])
def test_non_positive_stride_or_dilation(name):
    with pytest.raises(ValueError, match=rf"`{name}` \(=0\) must be a positive int"):
        jc.conv(X, W, **{name: 0})


def test_non_positive_window():
    with pytest.raises(ValueError, match=r"`window` \(=\(2, 0\)\) must be a positive int"):
        jc.max_pool(X, (2, 0))


def test_stride_with_wrong_number_of_axes():
    with pytest.raises(ValueError, match=r"`stride` \(=\(1, 2, 3\)\).*got 3 entries for 2 spatial axes"):
        jc.conv(X, W, stride=(1, 2, 3))


def test_float_stride_is_a_type_error():
    with pytest.raises(TypeError, match=r"`stride` \(=1.5\) must be a positive int"):
        jc.avg_pool(X, 2, stride=1.5)


@pytest.mark.parametrize("padding", ["FULL", (1, 2, 3), ((1, 2, 3), (0, 0)), 1.5])
def test_padding_form_not_understood(padding):
    with pytest.raises(ValueError, match=r"`padding` \(=.*\) is not understood"):
        jc.conv(X, W, padding=padding)


def test_negative_padding():
    with pytest.raises(ValueError, match=r"`padding` \(=-1\) must not be negative"):
        jc.conv(X, W, padding=-1)


def test_padding_that_leaves_an_empty_window():
    with pytest.raises(ValueError, match=r"`padding` \(=2\) leaves a window with no input element"):
        jc.max_pool(X, 2, padding=2)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_integer_input_is_a_type_error(name):
    """Every op's example call (the registry's) with an integer first input: a TypeError that
    names the op and its argument and says how to fix it."""
    spec, example = EXAMPLES[name]
    arrays = [jnp.zeros(s, jnp.int32 if i == 0 else jnp.float32)
              for i, s in enumerate(example.shapes)]
    first = next(iter(inspect.signature(spec.fn).parameters))
    with pytest.raises(TypeError, match=rf"jaxconv.{spec.name}: `{first}` has dtype int32, "
                                        r"expected a floating dtype.*astype"):
        example.call(jc, *arrays)


def test_mixed_dtypes():
    with pytest.raises(TypeError, match=r"inputs must share one dtype; got `x` float32, `w` float16"):
        jc.conv(X, W.astype(jnp.float16))


def test_bias_shape():
    with pytest.raises(ValueError, match=r"`b` must have shape \(6,\)"):
        jc.conv(X, W, jnp.zeros((4,), jnp.float32))


def test_labels_out_of_range():
    with pytest.raises(ValueError, match=r"`labels` must be class ids in \[0, 3\).*got values in \[0, 3\]"):
        jc.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.array([0, 3]))


def test_negative_labels():
    with pytest.raises(ValueError, match=r"`labels` must be class ids in \[0, 3\).*\[-1, 0\]"):
        jc.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.array([-1, 0]))


def test_integer_labels_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"integer `labels` must have shape \(2,\)"):
        jc.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.array([[0], [1]]))


def test_probability_labels_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"probability `labels` must have the logits' shape \(2, 3\)"):
        jc.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.zeros((2, 4)))


def test_labels_of_a_non_numeric_kind():
    with pytest.raises(TypeError, match=r"`labels` has dtype bool"):
        jc.softmax_cross_entropy(jnp.zeros((2, 3)), jnp.array([True, False]))


def test_logits_rank():
    with pytest.raises(ValueError, match=r"`logits` must have 2 dimensions \(N, num_classes\)"):
        jc.softmax_cross_entropy(jnp.zeros((3,)), jnp.array([0, 1, 2]))


def test_mse_shapes_must_match():
    with pytest.raises(ValueError, match=r"`y` \(4, 3\) and `t` \(4,\) must have the same shape"):
        jc.mse(jnp.zeros((4, 3)), jnp.zeros((4,)))


@pytest.mark.parametrize("op", ["mse", "softmax_cross_entropy"])
def test_unknown_reduction(op):
    args = ((jnp.zeros((2, 3)), jnp.zeros((2, 3))) if op == "mse"
            else (jnp.zeros((2, 3)), jnp.array([0, 1])))
    with pytest.raises(ValueError, match=r"`reduction` \(='avg'\) must be one of 'mean', 'sum', 'none'"):
        getattr(jc, op)(*args, reduction="avg")


@pytest.mark.parametrize("p", [0.5, float("inf"), True])
def test_lp_order_must_be_a_norm(p):
    with pytest.raises(ValueError, match=r"`p` \(=.*\) must be a finite number >= 1"):
        jc.lp_pool(X, 2, p=p)


def test_errors_happen_at_trace_time_under_jit():
    with pytest.raises(ValueError, match="`groups`"):
        jax.jit(lambda x, w: jc.conv(x, w, groups=3))(X, W)


def test_flip_must_be_bool():
    with pytest.raises(TypeError, match=r"`flip` \(=1\) must be True or False"):
        jc.conv(X, W, flip=1)


def test_ceil_mode_must_be_bool():
    with pytest.raises(TypeError, match=r"`ceil_mode` \(='yes'\) must be True or False"):
        jc.max_pool(X, 2, ceil_mode="yes")


def test_non_array_input():
    with pytest.raises(TypeError, match=r"`x` must be an array; got list"):
        jc.relu([1.0, 2.0])
    assert np.asarray(jc.relu(jnp.array([1.0]))).item() == 1.0


WT = jnp.zeros((4, 3, 3, 3), jnp.float32)      # conv_transpose kernel (C_in, C_out // g, *K)


def test_conv_transpose_kernel_rows_must_be_input_channels():
    with pytest.raises(ValueError, match=r"`w` must have x.shape\[1\] = 4 rows"):
        jc.conv_transpose(X, jnp.zeros((3, 4, 3, 3), jnp.float32))


def test_conv_transpose_output_padding_must_be_non_negative():
    with pytest.raises(ValueError, match=r"`output_padding` \(=-1\) must be a >= 0 int.*"
                                         r"output_padding=0 for the default"):
        jc.conv_transpose(X, WT, stride=2, output_padding=-1)


def test_conv_transpose_output_padding_below_stride():
    with pytest.raises(ValueError, match=r"`output_padding` \(=2 on axis 0\) must be smaller "
                                         r"than the stride \(=2\)"):
        jc.conv_transpose(X, WT, stride=2, output_padding=2)


def test_conv_transpose_padding_cannot_be_a_string():
    with pytest.raises(ValueError, match=r"`padding` \(='SAME'\) must be an int"):
        jc.conv_transpose(X, WT, padding="SAME")


XI = jnp.zeros((2, 3, 8, 8), jnp.float32)       # interpolate input, 2 spatial axes


def test_interpolate_mode_must_match_the_rank():
    with pytest.raises(ValueError, match=r"`mode` \(='bilinear'\) needs 2 spatial axes.*"
                                         r"Use mode='linear' for 1 spatial axis"):
        jc.interpolate(XI[:, :, 0], size=4, mode="bilinear")


def test_interpolate_unknown_mode():
    with pytest.raises(ValueError, match=r"`mode` \(='bicubic'\) must be one of 'nearest'"):
        jc.interpolate(XI, size=4, mode="bicubic")


def test_interpolate_needs_size_or_scale_factor_not_both():
    with pytest.raises(ValueError, match=r"exactly one of `size` and `scale_factor`; got both"):
        jc.interpolate(XI, size=4, scale_factor=2)


def test_interpolate_needs_size_or_scale_factor():
    with pytest.raises(ValueError, match=r"exactly one of `size` and `scale_factor`; got neither"):
        jc.interpolate(XI)


def test_interpolate_align_corners_with_a_nearest_mode():
    with pytest.raises(ValueError, match=r"`align_corners` \(=False\) applies to the linear "
                                         r"modes only; leave it None with mode='nearest-exact'"):
        jc.interpolate(XI, size=4, mode="nearest-exact", align_corners=False)


def test_interpolate_align_corners_must_be_bool():
    with pytest.raises(TypeError, match=r"`align_corners` \(=1\) must be True or False"):
        jc.interpolate(XI, size=4, mode="bilinear", align_corners=1)


def test_interpolate_size_length():
    with pytest.raises(ValueError, match=r"`size` \(=\(4, 4, 4\)\) must be .*got 3 entries for "
                                         r"2 spatial axes"):
        jc.interpolate(XI, size=(4, 4, 4))


def test_interpolate_scale_factor_length():
    with pytest.raises(ValueError, match=r"`scale_factor` \(=\(2.0,\)\) must be .*got 1 entries "
                                         r"for 2 spatial axes"):
        jc.interpolate(XI, scale_factor=(2.0,))


def test_interpolate_size_must_be_positive():
    with pytest.raises(ValueError, match=r"`size` \(=\(4, 0\)\) must be positive on every "
                                         r"spatial axis"):
        jc.interpolate(XI, size=(4, 0))


def test_interpolate_size_must_be_ints():
    with pytest.raises(TypeError, match=r"`size` \(=4.5\) must be a positive int"):
        jc.interpolate(XI, size=4.5)


def test_interpolate_scale_factor_must_be_positive():
    with pytest.raises(ValueError, match=r"`scale_factor` \(=-2\) must be a positive number; "
                                         r"an entry of \(1.5, -2\)"):
        jc.interpolate(XI, scale_factor=(1.5, -2))


def test_interpolate_scale_factor_must_be_a_number():
    with pytest.raises(ValueError, match=r"`scale_factor` \(=0\) must be a positive number or "
                                         r"a tuple of 2"):
        jc.interpolate(XI, scale_factor=0)


def test_interpolate_tiny_scale_factor_gives_an_empty_output():
    with pytest.raises(ValueError, match=r"`scale_factor` \(=0.1\) gives an output size of 0 on "
                                         r"spatial axis 0 \(floor\(8 \* 0.1\) = 0\); use a factor "
                                         r">= 1/8"):
        jc.interpolate(XI, scale_factor=0.1)


def test_interpolate_integer_input():
    with pytest.raises(TypeError, match=r"`x` has dtype int32, expected a floating dtype"):
        jc.interpolate(jnp.zeros((2, 3, 8), jnp.int32), size=4)


def test_interpolate_empty_spatial_axis():
    with pytest.raises(ValueError, match=r"`x` has no elements on a spatial axis"):
        jc.interpolate(jnp.zeros((2, 3, 0, 8)), size=4)


# ----- the activations' options: static Python values, checked at trace time -----------------

def test_leaky_relu_slope_must_be_finite():
    with pytest.raises(ValueError, match=r"jaxconv.leaky_relu: `negative_slope` \(=nan\) must be a finite number"):
        jc.leaky_relu(X, negative_slope=float("nan"))


def test_leaky_relu_slope_must_be_a_python_number():
    with pytest.raises(ValueError, match=r"`negative_slope` \(=Array\(.*must be a finite number"):
        jc.leaky_relu(X, negative_slope=jnp.asarray(0.1))


def test_elu_alpha_must_be_finite():
    with pytest.raises(ValueError, match=r"jaxconv.elu: `alpha` \(=inf\) must be a finite number"):
        jc.elu(X, alpha=float("inf"))


def test_gelu_approximate_must_be_none_or_tanh():
    with pytest.raises(ValueError, match=r"jaxconv.gelu: `approximate` \(='erf'\) must be 'none' or 'tanh'"):
        jc.gelu(X, approximate="erf")


def test_gelu_approximate_is_not_a_bool():
    with pytest.raises(ValueError, match=r"`approximate` \(=True\) must be 'none' or 'tanh'"):
        jc.gelu(X, approximate=True)


def test_softplus_beta_must_be_positive():
    with pytest.raises(ValueError, match=r"jaxconv.softplus: `beta` \(=0.0\) must be a positive finite number"):
        jc.softplus(X, beta=0.0)


def test_softplus_threshold_must_be_finite():
    with pytest.raises(ValueError, match=r"jaxconv.softplus: `threshold` \(=nan\) must be a finite number"):
        jc.softplus(X, threshold=float("nan"))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_axis_out_of_range(op):
    with pytest.raises(ValueError, match=rf"jaxconv.{op}: `axis` \(=4\) is out of range for `x` of shape \(2, 4, 8, 8\) \(4 dimensions\); pass an axis in \[-4, 3\]"):
        getattr(jc, op)(X, axis=4)


def test_softmax_axis_must_be_an_int():
    with pytest.raises(TypeError, match=r"jaxconv.softmax: `axis` \(=\(0, 1\)\) must be an int"):
        jc.softmax(X, axis=(0, 1))


# ----- normalisation ------------------------------------------------------------------------------

XN = jnp.zeros((4, 3, 5), jnp.float32)
C3 = jnp.ones(3, jnp.float32)


@pytest.mark.parametrize("name", ["scale", "bias", "mean", "var"])
def test_batch_norm_parameter_shapes(name):
    kw = dict(scale=C3, bias=C3, mean=C3, var=C3)
    kw[name] = jnp.ones(4, jnp.float32)
    with pytest.raises(ValueError, match=rf"`{name}` must have shape \(3,\).*got shape \(4,\)"):
        jc.batch_norm(XN, kw["scale"], kw["bias"], kw["mean"], kw["var"], training=True)


def test_batch_norm_needs_more_than_one_value_per_channel():
    with pytest.raises(ValueError, match=r"more than one value per channel.*\(1, 3\)"):
        jc.batch_norm(jnp.zeros((1, 3)), None, None, C3, C3, training=True)
    jc.batch_norm(jnp.zeros((1, 3)), None, None, C3, C3, training=False)      # fine


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
def test_batch_norm_momentum_in_unit_interval(momentum):
    with pytest.raises(ValueError, match=r"`momentum` \(=.*\) must be a number in \[0, 1\]"):
        jc.batch_norm(XN, None, None, C3, C3, training=True, momentum=momentum)


@pytest.mark.parametrize("op", ["batch_norm", "layer_norm", "group_norm"])
@pytest.mark.parametrize("eps", [0.0, -1e-5])
def test_norm_eps_positive(op, eps):
    call = {"batch_norm": lambda: jc.batch_norm(XN, None, None, C3, C3, training=True, eps=eps),
            "layer_norm": lambda: jc.layer_norm(XN, eps=eps),
            "group_norm": lambda: jc.group_norm(XN, 3, eps=eps)}[op]
    with pytest.raises(ValueError, match=r"`eps` \(=.*\) must be a positive number"):
        call()


def test_batch_norm_training_flag_and_statistics():
    with pytest.raises(TypeError, match="`training`"):
        jc.batch_norm(XN, None, None, C3, C3, training="yes")
    with pytest.raises(ValueError, match="training=False normalises with the running"):
        jc.batch_norm(XN, None, None, None, None, training=False)
    with pytest.raises(ValueError, match="pass both running statistics"):
        jc.batch_norm(XN, None, None, C3, None, training=True)
    with pytest.raises(ValueError, match=r"`x` must be \(N, C, \*spatial\) with 0-3 spatial"):
        jc.batch_norm(jnp.zeros(3), None, None, C3, C3, training=True)


def test_group_norm_groups_must_divide_channels():
    with pytest.raises(ValueError, match=r"`num_groups` \(=2\) must divide the channels C \(=3"):
        jc.group_norm(XN, 2)
    with pytest.raises(ValueError, match=r"`scale` must have shape \(3,\)"):
        jc.group_norm(XN, 3, jnp.ones(5))


@pytest.mark.parametrize("num_axes", [0, 4])
def test_layer_norm_num_axes_in_range(num_axes):
    with pytest.raises(ValueError, match=r"`num_axes` \(="):
        jc.layer_norm(XN, num_axes=num_axes)


def test_layer_norm_scale_has_the_normalised_shape():
    with pytest.raises(ValueError, match=r"`scale` must have shape \(3, 5\).*x.shape\[-2:\]"):
        jc.layer_norm(XN, jnp.ones(5), num_axes=2)
