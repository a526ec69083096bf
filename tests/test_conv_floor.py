"""bench/conv_floor.py: the MNIST cnn's operations per layer and its step against the floor they set."""
import re

from cli import assert_one_line_error, run_cli


def test_cnn_flops_per_layer_and_the_ratio_to_the_floor():
    """Forward 2·B·C_out·H_out·W_out·k²·C_in flops per convolution (conv1 2·64·10·24²·25 = 18.4 M, conv2
    2·64·20·8²·250 = 41.0 M); backward the weight gradient for conv1 (its input needs none) and weight + input
    gradients for conv2."""
    proc = run_cli("--models", "cnn", "--rounds", "1", "--steps", "2", script="bench/conv_floor.py")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # the profiler's C++ start and stop lines are kept off the output
    assert "| conv1 | 18.4 | 18.4 |" in proc.stdout
    assert "| conv2 | 41.0 | 81.9 |" in proc.stdout
    assert "| fc1 | 2.0 | 4.1 |" in proc.stdout
    step, ratio = map(float, re.search(r"measured ([\d.]+) ms per step .* = ([\d.]+)", proc.stdout).groups())
    assert step > 0 and ratio > 1  # the step takes longer than its operations at the matmul rate


def test_unknown_model_is_a_one_line_error():
    assert_one_line_error(run_cli("--models", "vgg", script="bench/conv_floor.py"), "--models")
