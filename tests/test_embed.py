"""scripts/embed.py: pretrained features of MNIST (a slice of the real files), CIFAR-10 (small files in the true
format) and image folders, from a torchvision model with a weights file (randomly initialised here, offline), and
the workflow it serves: embed, then run.py --select-on input on the .npz."""
import os
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.models as tvm

import run
from cli import NO_CUDA, assert_one_line_error, run_cli
from ctrl_c import ctrl_c_at, loaded
from data_files import skip_md5, write_cifar10, write_mnist_slice
from procs import start_cli
from scripts import embed

pytestmark = pytest.mark.filterwarnings("ignore:training stopped")


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A resnet18 state dict of random weights, saved as a user's weights file."""
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.manual_seed(0)
    torch.save(tvm.resnet18().state_dict(), path)
    return path


def reference_features(weights, images):
    """resnet18 with the weights, its fc layer removed, on uint8 images as embed.py prepares them at size 32."""
    net = tvm.resnet18()
    net.load_state_dict(torch.load(weights, weights_only=True))
    net.fc = torch.nn.Identity()
    with torch.no_grad():
        return net.eval()(prepared(images, 32)).numpy()


def prepared(images, size):
    """uint8 images (n, c, h, w) as embed.py feeds them to the model: x/255, grey repeated to 3 channels, resized to
    size × size, normalised with ImageNet's channel means and standard deviations."""
    x = images.float() / 255
    x = x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    mean, std = torch.tensor(embed.IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(embed.IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def embed_to(out, *flags, model="resnet18", size=32):
    assert embed.main([*map(str, flags), "--out", str(out), "--size", str(size), "--model", model]) == 0
    return dict(np.load(out))


def test_mnist_features_are_the_models_penultimate_layer_and_run_py_selects_on_them(tmp_path, weights, capsys):
    write_mnist_slice(tmp_path / "data", n_train=80, n_test=30)
    arrays = embed_to(tmp_path / "mnist.npz", "--data", "MNIST", "--path", tmp_path / "data", "--weights", weights)
    assert {k: v.shape for k, v in arrays.items()} == {"X_train": (80, 512), "y_train": (80,),
                                                       "X_test": (30, 512), "y_test": (30,)}
    import dataset

    images, labels = dataset.torchvision_arrays("MNIST", tmp_path / "data", train=True, download=False)
    assert np.array_equal(arrays["y_train"], labels[:80].numpy())
    assert np.allclose(arrays["X_train"][:5], reference_features(weights, images[:5]), atol=1e-4)

    assert run.main(["--data", str(tmp_path / "mnist.npz"), "--alg", "typiclust", "--select-on", "input",
                     "--nStart", "0", "--nQuery", "10", "--nEnd", "30", "--maxEpochs", "20", "--nEmb", "16",
                     "--out", str(tmp_path / "out")]) == 0
    folder = tmp_path / "out" / "mnist_mlp_typiclust_10_seed1"
    rounds = pd.read_csv(folder / "rounds.csv")
    assert rounds.n_labeled.tolist() == [10, 20, 30]
    config = pd.read_json(folder / "config.json", typ="series")
    assert (config.n_pool, config.n_test, config.select_on) == (80, 30, "input")


def test_a_backbone_without_its_classifier_as_a_self_supervised_checkpoint_has_it(tmp_path, weights):
    """A state dict without the last linear layer's weights (DINO's and other self-supervised ResNets have no fc)
    was refused as not resnet18's ('Missing key(s) in state_dict: fc.weight, fc.bias'), though embed.py drops that
    layer; its features are those of the whole state dict."""
    write_mnist_slice(tmp_path / "data", n_train=8, n_test=4)
    backbone = {k: v for k, v in torch.load(weights, weights_only=True).items() if not k.startswith("fc.")}
    torch.save(backbone, tmp_path / "backbone.pth")
    arrays = embed_to(tmp_path / "b.npz", "--data", "MNIST", "--path", tmp_path / "data", "--weights",
                      tmp_path / "backbone.pth")
    import dataset

    images = dataset.torchvision_arrays("MNIST", tmp_path / "data", train=True, download=False)[0]
    assert np.allclose(arrays["X_train"], reference_features(weights, images[:8]), atol=1e-4)


def test_cifar10_files_in_their_true_format(tmp_path, weights, monkeypatch):
    import torchvision.datasets.cifar

    batches = write_cifar10(tmp_path / "data", n_per_batch=4)
    skip_md5(monkeypatch, torchvision.datasets.cifar)
    arrays = embed_to(tmp_path / "c.npz", "--data", "CIFAR10", "--path", tmp_path / "data", "--weights", weights)
    assert arrays["X_train"].shape == (20, 512) and arrays["X_test"].shape == (4, 512)
    assert arrays["y_test"].tolist() == batches["test_batch"][1]
    images = torch.from_numpy(batches["test_batch"][0].reshape(4, 3, 32, 32))
    assert np.allclose(arrays["X_test"], reference_features(weights, images), atol=1e-4)


def write_images(folder, n_per_class, seed, classes=("cat", "dog")):
    """folder/<class>/<k>.png: RGB noise images of two sizes, in `classes`."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for name in classes:
        (folder / name).mkdir(parents=True)
        for k in range(n_per_class):
            side = 20 if k % 2 else 40
            Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / name / f"{k}.png")


def test_an_image_folder_with_and_without_its_own_test_set(tmp_path, weights):
    write_images(tmp_path / "split" / "train", 3, 0)
    write_images(tmp_path / "split" / "test", 2, 1)
    arrays = embed_to(tmp_path / "s.npz", "--data", tmp_path / "split", "--weights", weights)
    assert arrays["y_train"].tolist() == ["cat"] * 3 + ["dog"] * 3 and arrays["y_test"].tolist() == ["cat", "cat",
                                                                                                      "dog", "dog"]
    assert arrays["X_train"].shape == (6, 512)
    write_images(tmp_path / "plain", 3, 2)
    assert set(embed_to(tmp_path / "p.npz", "--data", tmp_path / "plain", "--weights", weights)) == {"X", "y", "paths"}


def test_split_names_in_any_case_and_a_validation_folder_as_the_test_set(tmp_path, weights, capsys):
    """Train/ and Val/ were read as the classes 'Train' and 'Val' of one flat table, silently."""
    write_images(tmp_path / "f" / "Train", 2, 0)
    write_images(tmp_path / "f" / "Val", 1, 1)
    arrays = embed_to(tmp_path / "s.npz", "--data", tmp_path / "f", "--weights", weights)
    assert arrays["y_train"].tolist() == ["cat", "cat", "dog", "dog"] and arrays["y_test"].tolist() == ["cat", "dog"]
    assert arrays["paths_test"].tolist() == ["Val/cat/0.png", "Val/dog/0.png"]
    assert f"embed.py: {tmp_path / 'f' / 'Val'} is the test set ({tmp_path / 'f'} has no test/)" in \
        capsys.readouterr().err.splitlines()


def test_with_train_val_and_test_the_test_folder_is_the_test_set_and_val_is_left_out_and_said_so(tmp_path, weights,
                                                                                                  capsys):
    for split, n in (("train", 2), ("val", 1), ("TEST", 3)):
        write_images(tmp_path / "f" / split, n, 0)
    arrays = embed_to(tmp_path / "s.npz", "--data", tmp_path / "f", "--weights", weights)
    assert len(arrays["y_train"]) == 4 and arrays["paths_test"].tolist()[:3] == [f"TEST/cat/{k}.png" for k in range(3)]
    assert capsys.readouterr().err.splitlines()[-1] == (f"embed.py: left out {tmp_path / 'f' / 'val'} (only the train "
                                                        f"and test splits are embedded)")


@pytest.mark.parametrize("splits, fragments", [
    (["train"], ["has train/ but no test/ (or val/) beside it; add ", "or give --data ", "/f/train to have run.py"]),
    (["val", "cat"], ["has val/ but no train/ beside it; put the training images in ", "/f/train/<class>/"]),
    (["Train", "valid", "validation"], ["has Train/, valid/, validation/ and no test/, so which is the test set is "
                                        "unclear; rename the one that is the test set to test/"]),
    (["Train", "train", "test"], ["has Train/ and train/, one split in two spellings; merge them"]),
])
def test_split_folders_that_make_no_train_and_test_pair_are_one_line_error(splits, fragments, tmp_path, weights):
    """Each was read as a flat folder whose classes are the split names (or, Train/ and train/, as train/ alone)."""
    for split in splits:
        write_images(tmp_path / "f" / split, 1, 0)
    proc = embed_cli(tmp_path, weights, "--data", tmp_path / "f")
    assert_one_line_error(proc, f"embed.py: error: {tmp_path / 'f'} has ", *fragments)
    assert not (tmp_path / "o.npz").exists()


def test_paths_name_each_rows_image_and_run_py_picks_map_to_them_through_row(tmp_path, weights):
    """The .npz held no file names: a pick could not be traced to its image. A whole table's pool is a random
    split, so queries.csv's row, not its index, is the row of X and of paths."""
    import torchvision.transforms.functional as TF
    from PIL import Image

    write_images(tmp_path / "plain", 12, 3)
    arrays = embed_to(tmp_path / "p.npz", "--data", tmp_path / "plain", "--weights", weights)
    assert arrays["paths"].tolist() == [f"{c}/{k}.png" for c in ("cat", "dog") for k in sorted(map(str, range(12)))]
    assert run.main(["--data", str(tmp_path / "p.npz"), "--alg", "rand", "--nStart", "4", "--nQuery", "4",
                     "--nEnd", "8", "--maxEpochs", "5", "--nEmb", "8", "--out", str(tmp_path / "out")]) == 0
    picks = pd.read_csv(tmp_path / "out" / "p_mlp_rand_4_seed1" / "queries.csv")
    assert (picks["index"] != picks["row"]).any()  # the pool is not X's rows in order
    files = arrays["paths"][picks["row"]]
    images = torch.stack([TF.resize(TF.pil_to_tensor(Image.open(tmp_path / "plain" / f).convert("RGB")), [32, 32],
                                    antialias=True) for f in files])
    assert np.allclose(arrays["X"][picks["row"]], reference_features(weights, images), atol=1e-4)


def test_limit_keeps_images_spread_over_each_split_so_every_class_of_a_folder_is_kept(tmp_path, weights):
    """The first N images of a class-sorted folder were one or two classes: run.py then refused the test set."""
    for split, n in (("train", 4), ("test", 2)):
        write_images(tmp_path / "f" / split, n, len(split), ("cat", "dog", "eel"))
    arrays = embed_to(tmp_path / "l.npz", "--data", tmp_path / "f", "--weights", weights, "--limit", "6")
    assert arrays["paths_train"].tolist() == ["train/cat/0.png", "train/cat/2.png", "train/dog/0.png",
                                              "train/dog/2.png", "train/eel/0.png", "train/eel/2.png"]
    assert arrays["y_test"].tolist() == ["cat", "cat", "dog", "dog", "eel", "eel"]  # fewer than 6: all kept
    assert run.main(["--data", str(tmp_path / "l.npz"), "--nStart", "3", "--nQuery", "3", "--nEnd", "6",
                     "--maxEpochs", "5", "--nEmb", "8", "--out", str(tmp_path / "out")]) == 0


def test_limit_spreads_over_the_torchvision_sets_too(tmp_path, weights):
    write_mnist_slice(tmp_path / "data", n_train=80, n_test=30)
    arrays = embed_to(tmp_path / "m.npz", "--data", "MNIST", "--path", tmp_path / "data", "--weights", weights,
                      "--limit", "4")
    import dataset

    labels = dataset.torchvision_arrays("MNIST", tmp_path / "data", train=True, download=False)[1]
    assert np.array_equal(arrays["y_train"], labels[[0, 20, 40, 60]].numpy()) and len(arrays["y_test"]) == 4
    assert "paths_train" not in arrays


@pytest.mark.parametrize("flags, message", [
    (["--data", "nowhere"], "neither MNIST, FashionMNIST, CIFAR10 nor an image folder"),
    (["--data", "MNIST", "--path", "nowhere"], "MNIST is not under nowhere"),
    (["--model", "resnet9000"], "is not a torchvision model"),
    (["--weights", "alexnet"], "does not hold a state dict of resnet18"),
    (["--weights", "IMAGENET1K_V1"], "no such file; give the model's state dict (torch.save(model.state_dict(), f)); "
                                     "embed.py downloads none: fetch https://download.pytorch.org/models/"
                                     "resnet18-f37072fd.pth on a machine with network and give its path"),
])
def test_bad_input_is_one_line(flags, message, tmp_path, weights, capsys):
    write_images(tmp_path / "plain", 1, 0)
    if flags == ["--weights", "alexnet"]:
        torch.save(tvm.alexnet().state_dict(), tmp_path / "alexnet.pth")
        flags = ["--weights", str(tmp_path / "alexnet.pth")]
    argv = {"--data": str(tmp_path / "plain"), "--model": "resnet18", "--weights": str(weights)}
    argv.update(dict(zip(flags[::2], flags[1::2])))
    assert embed.main([*(x for kv in argv.items() for x in kv), "--out", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("embed.py: error: ") and message in err[0], err


@pytest.mark.parametrize("model, message", [
    ("r3d_18", "--model r3d_18 is a torchvision video model; give an image classification model"),
    ("fcn_resnet50", "--model fcn_resnet50 is a torchvision segmentation model; give an image classification model"),
    ("raft_small", "--model raft_small is a torchvision optical-flow model; give an image classification model"),
    ("squeezenet1_0", "--model squeezenet1_0 ends in no linear layer"),
])
def test_a_model_that_is_no_image_classifier_with_a_linear_last_layer_is_one_line(model, message, tmp_path, weights,
                                                                                   capsys):
    """torchvision.models.list_models() names video, detection, segmentation and optical-flow models too: r3d_18
    was conv3d's RuntimeError traceback, fcn_resnet50 a download of its backbone's weights (a URLError traceback
    offline), raft_small and squeezenet1_0 (no nn.Linear) an IndexError traceback."""
    write_images(tmp_path / "plain", 1, 0)
    argv = ["--data", str(tmp_path / "plain"), "--model", model, "--weights", str(weights), "--size", "32"]
    assert embed.main([*argv, "--out", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"embed.py: error: {message}"), err
    assert not (tmp_path / "o.npz").exists()


def test_a_size_the_model_cannot_take_is_one_line():
    """alexnet's first convolution leaves one pixel of an 8 × 8 image, which its max-pooling cannot reduce: it was
    torch's RuntimeError traceback (a ViT's AssertionError on a size other than 224 the same)."""
    images = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(embed.UserError, match=r"^the model cannot take 8×8 images \(.*Output size is too small.*\); "
                                              r"give --size the input size it was trained at"):
        embed.features(tvm.alexnet().eval(), images, 8, 2, "cpu")


class FailingOnDevice(torch.nn.Module):
    """A network whose forward fails as CUDA's kernels do (a RuntimeError starting with the library's name)."""

    def __init__(self, text):
        super().__init__()
        self.text = text

    def forward(self, x):
        raise RuntimeError(self.text)


@pytest.mark.parametrize("text", ["CUDA error: an illegal memory access was encountered",
                                  "cuDNN error: CUDNN_STATUS_EXECUTION_FAILED",
                                  "CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"])
def test_a_cuda_failure_is_not_blamed_on_the_size(text):
    """CUDA's own errors propagate as they are; they were reported as `the model cannot take 32×32 images ...;
    give --size ...`, advice that cannot mend them."""
    with pytest.raises(RuntimeError, match=text[:10]) as raised:
        embed.features(FailingOnDevice(text).eval(), torch.zeros(2, 3, 32, 32, dtype=torch.uint8), 32, 2, "cpu")
    assert not isinstance(raised.value, embed.UserError)


@pytest.mark.parametrize("damage, message", [
    ("t10k labels as training labels", "MNIST files under {data}: the training set has 40 images but 10 labels"),
    ("empty training images", "MNIST files under {data} could not be read: MNIST/raw/train-images-idx3-ubyte is 0 "
                              "bytes long, shorter than its 16-byte header: it is empty or truncated"),
])
def test_damaged_mnist_files_are_named_before_anything_is_embedded(damage, message, tmp_path, weights, capsys):
    """As run.py checks them: 40 training images beside 10 labels were embedded as 10 wrongly labelled rows."""
    raw = write_mnist_slice(tmp_path / "data", n_train=40, n_test=10)
    if damage.startswith("t10k"):
        shutil.copyfile(raw / "t10k-labels-idx1-ubyte", raw / "train-labels-idx1-ubyte")
    else:
        (raw / "train-images-idx3-ubyte").write_bytes(b"")
    argv = ["--data", "MNIST", "--path", tmp_path / "data", "--model", "resnet18", "--weights", weights]
    assert embed.main([*map(str, argv), "--out", str(tmp_path / "o.npz")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(data=tmp_path / "data") in err[0], err
    assert not (tmp_path / "o.npz").exists()


def embed_cli(tmp_path, weights, *flags):
    """`python scripts/embed.py` on a folder of two small images (resnet18 at size 32) with `flags` added or
    replacing the defaults; returns the CompletedProcess."""
    if not (tmp_path / "plain").is_dir():
        write_images(tmp_path / "plain", 1, 0)
    argv = {"--data": tmp_path / "plain", "--model": "resnet18", "--weights": weights, "--size": "32",
            "--out": tmp_path / "o.npz"}
    argv.update(dict(zip(flags[::2], flags[1::2])))
    return run_cli(*(x for kv in argv.items() for x in kv), script="scripts/embed.py", timeout=300)


def test_the_file_written_is_the_one_printed(tmp_path, weights):
    """The .npz lands under exactly the name given and printed, with no temporary file left beside it."""
    (tmp_path / "out").mkdir()
    proc = embed_cli(tmp_path, weights, "--out", tmp_path / "out" / "features.npz")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.startswith(f"embed.py: {tmp_path / 'out' / 'features.npz'}: X (2, 512), y (2,)")
    assert os.listdir(tmp_path / "out") == ["features.npz"]  # no temporary file left beside it
    assert set(np.load(tmp_path / "out" / "features.npz")) == {"X", "y", "paths"}


@pytest.mark.parametrize("out, fragments", [
    ("features", ["--out ", "features: give a file name ending in .npz"]),  # it wrote features.npz, printed features
    ("folder", ["folder is a folder; give a file name ending in .npz"]),  # it wrote folder.npz beside the folder
    ("missing/x.npz", ["missing does not exist; create it"]),  # a FileNotFoundError traceback after the work
    ("/proc/x.npz", ["/proc takes no new file", "write elsewhere"]),  # found only when it wrote, after the work
])
def test_out_that_is_not_an_npz_file_in_an_existing_folder_is_one_line_error_before_any_work(out, fragments,
                                                                                                   tmp_path, weights):
    """--out is checked before --data is read (its error comes first) and nothing is written anywhere."""
    (tmp_path / "folder").mkdir()
    proc = embed_cli(tmp_path, weights, "--out", tmp_path / out, "--data", tmp_path / "nowhere")
    assert_one_line_error(proc, "embed.py: error: --out ", *fragments)  # not the --data error: --out comes first
    assert sorted(os.listdir(tmp_path)) == ["folder", "plain"] and os.listdir(tmp_path / "folder") == []


@pytest.mark.parametrize("content, fragments", [
    (b"# a README\n", ["could not be read as a state dict (UnpicklingError)"]),  # pickle.UnpicklingError traceback
    (b"", ["could not be read as a state dict (EOFError)"]),  # EOFError traceback
    (None, ["no such file"]),  # was one line, but said the file "does not hold a state dict of resnet18"
])
def test_a_weights_file_torch_cannot_read_is_one_line_error(content, fragments, tmp_path, weights):
    """A text file, an empty file and a missing file each give one line naming --weights, and no .npz."""
    if content is not None:
        (tmp_path / "w.pth").write_bytes(content)
    proc = embed_cli(tmp_path, weights, "--weights", tmp_path / "w.pth")
    assert_one_line_error(proc, f"embed.py: error: --weights {tmp_path / 'w.pth'}", *fragments)
    assert not (tmp_path / "o.npz").exists()


@NO_CUDA
def test_cuda_without_a_gpu_is_one_line_error(tmp_path, weights):
    """It was torch's RuntimeError traceback (no NVIDIA driver) when the network was moved to the device."""
    proc = embed_cli(tmp_path, weights, "--device", "cuda")
    assert_one_line_error(proc, "embed.py: error: --device cuda asked for, but no CUDA device is available; "
                                "use --device cpu")


def test_images_too_large_for_memory_are_one_line_error(tmp_path, weights):
    """--size 200,000 asks for 480 GB a batch: it was the CPU allocator's RuntimeError traceback."""
    proc = embed_cli(tmp_path, weights, "--size", "200000")
    assert_one_line_error(proc, "embed.py: error: --size 200000 with --batch 128 does not fit in memory (",
                          "can't allocate memory", "lower --size or --batch")
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("size, data", [
    (10**30, "folder"),  # TypeError of the resize (Overflow when unpacking long long) with a C++ frame dump
    (10**10, "folder"),  # RuntimeError traceback of the resize: Storage size calculation overflowed
    (5 * 10**8, "MNIST"),  # the same of the interpolation: one image's 3·10^18 bytes fit in 2^63, five do not
])
def test_a_size_beyond_what_a_tensor_can_hold_is_the_same_one_line(size, data, tmp_path, weights):
    """Sizes whose images torch cannot even count got its overflow errors, not the line of a --size too large for
    memory."""
    mnist = ["--data", "MNIST", "--path", tmp_path / "data", "--limit", "5"] if data == "MNIST" else []
    if mnist:
        write_mnist_slice(tmp_path / "data", n_train=5, n_test=5)
    proc = embed_cli(tmp_path, weights, "--size", size, *mnist)
    count = 1 if data == "folder" else 5  # a folder's images are checked one by one as they are resized
    assert_one_line_error(proc, f"embed.py: error: --size {size} with --batch 128 does not fit in memory "
                                f"(MemoryError: {count} × 3 × size × size float32 values need more than the 2^63 "
                                f"bytes a tensor can hold); lower --size or --batch")
    assert proc.returncode == 2 and not (tmp_path / "o.npz").exists()


def test_a_corrupt_image_is_one_line_error_naming_it(tmp_path, weights):
    """It was PIL's UnidentifiedImageError traceback."""
    write_images(tmp_path / "plain", 1, 0)
    (tmp_path / "plain" / "cat" / "a.png").write_bytes(b"not a png at all")
    proc = embed_cli(tmp_path, weights)
    assert_one_line_error(proc, f"embed.py: error: {tmp_path / 'plain' / 'cat' / 'a.png'} is not a readable image")


@pytest.mark.parametrize("flags, fragments", [
    (["--size", "x"], ["argument --size: invalid int value: 'x'"]),
    (["--device", "cdua"], ["invalid choice: 'cdua'", "did you mean cuda?"]),
])
def test_a_bad_flag_is_one_line_error(flags, fragments, tmp_path, weights):
    """argparse's own parser printed the usage block before the error."""
    assert_one_line_error(embed_cli(tmp_path, weights, *flags), "embed.py: error:", *fragments, "(see --help)")


def test_an_existing_out_file_is_refused_and_kept(tmp_path, weights):
    """It was silently overwritten (README: --out is a new file in a folder that takes one)."""
    (tmp_path / "o.npz").write_bytes(b"earlier features")
    proc = embed_cli(tmp_path, weights)
    assert_one_line_error(proc, f"embed.py: error: --out {tmp_path / 'o.npz'} exists; remove it or choose another "
                                f"--out")
    assert (tmp_path / "o.npz").read_bytes() == b"earlier features"


def test_data_set_names_in_any_case_as_run_py_takes_them(tmp_path, weights):
    """`--data mnist` was refused ("neither MNIST, FashionMNIST, CIFAR10 nor an image folder"); run.py takes it."""
    write_mnist_slice(tmp_path / "data", n_train=4, n_test=3)
    proc = embed_cli(tmp_path, weights, "--data", "mnist", "--path", tmp_path / "data")
    assert proc.returncode == 0, proc.stderr
    assert {k: v.shape for k, v in np.load(tmp_path / "o.npz").items()} == {
        "X_train": (4, 512), "y_train": (4,), "X_test": (3, 512), "y_test": (3,)}


def test_ctrl_c_is_one_line_and_exit_130_and_writes_nothing(tmp_path, weights):
    """Ctrl-C while it embeds (torchvision loaded) was a KeyboardInterrupt traceback, and, started in the
    background (SIGINT ignored), did not stop it."""
    write_images(tmp_path / "plain", 30, 0)
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "f.npz"
    flags = ["--data", tmp_path / "plain", "--model", "resnet18", "--weights", weights, "--out", out]
    code, err = ctrl_c_at(lambda: start_cli(*flags, script="scripts/embed.py"), lambda pid: loaded(pid, "torchvision"))
    assert code == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == f"embed.py: interrupted; nothing was written " \
                                                                      f"to --out {out}"
    assert list((tmp_path / "out").iterdir()) == []


AUX_SIZES = {"googlenet": 32, "inception_v3": 75}  # small sizes each model takes (inception_v3's least is 75)


@pytest.fixture(scope="module")
def aux_weights(tmp_path_factory):
    """{model: (file, file without the auxiliary heads)} of random googlenet and inception_v3 weights: the state
    dict of a model with the heads, and the same less them, as torchvision's googlenet(weights=DEFAULT).state_dict()
    (aux_logits=False) is."""
    folder, files = tmp_path_factory.mktemp("aux_weights"), {}
    for model, heads in (("googlenet", ("aux1.", "aux2.")), ("inception_v3", ("AuxLogits.",))):
        torch.manual_seed(0)
        state = tvm.get_model(model, aux_logits=True, init_weights=False).state_dict()
        files[model] = folder / f"{model}.pth", folder / f"{model}_bare.pth"
        torch.save(state, files[model][0])
        torch.save({k: v for k, v in state.items() if not k.startswith(heads)}, files[model][1])
    return files


def hand_features(model, weights, images, transform_input):
    """`model` with aux_logits=True and `transform_input`, loaded with the state dict in `weights`, its fc layer
    removed, in eval mode, on uint8 images as embed.py prepares them at AUX_SIZES[model]."""
    net = tvm.get_model(model, aux_logits=True, transform_input=transform_input, init_weights=False)
    net.load_state_dict(torch.load(weights, weights_only=True))
    net.fc = torch.nn.Identity()
    with torch.no_grad():
        return net.eval()(prepared(images, AUX_SIZES[model])).numpy()


def close(a, b):
    """Whether features a and b agree to 1e-4 of b's largest magnitude (random weights give tiny features)."""
    return np.allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


@pytest.mark.parametrize("model", sorted(AUX_SIZES))
def test_googlenet_and_inception_v3_give_the_features_torchvisions_pretrained_model_gives(model, tmp_path,
                                                                                            aux_weights):
    """They were built with transform_input=False, while torchvision's pretrained ones run with True (their weights
    expect inputs in [-1, 1]; the model maps ImageNet-normalised input there): torchvision's own weights file gave
    other features than torchvision's pretrained model."""
    import dataset

    write_mnist_slice(tmp_path / "data", n_train=3, n_test=1)
    images = dataset.torchvision_arrays("MNIST", tmp_path / "data", train=True, download=False)[0]
    arrays = embed_to(tmp_path / "f.npz", "--data", "MNIST", "--path", tmp_path / "data", "--weights",
                      aux_weights[model][0], model=model, size=AUX_SIZES[model])
    expected = hand_features(model, aux_weights[model][0], images, transform_input=True)
    assert close(arrays["X_train"], expected)
    assert not close(hand_features(model, aux_weights[model][0], images, transform_input=False), expected)


@pytest.mark.parametrize("model", sorted(AUX_SIZES))
def test_a_state_dict_without_auxiliary_heads_is_taken_and_other_missing_keys_are_still_refused(model, tmp_path,
                                                                                                   aux_weights, capsys):
    """torchvision's googlenet(weights=DEFAULT).state_dict() has no aux1, aux2 (aux_logits=False): it was refused as
    not googlenet's (loaded strictly into a model with them), though the heads give no features."""
    full, bare = aux_weights[model]
    write_mnist_slice(tmp_path / "data", n_train=2, n_test=1)
    flags, options = ["--data", "MNIST", "--path", tmp_path / "data", "--weights"], {"model": model,
                                                                                    "size": AUX_SIZES[model]}
    with_heads = embed_to(tmp_path / "full.npz", *flags, full, **options)["X_train"]
    assert np.array_equal(embed_to(tmp_path / "bare.npz", *flags, bare, **options)["X_train"], with_heads)
    state = torch.load(bare, weights_only=True)
    first = next(iter(state))
    del state[first]
    torch.save(state, tmp_path / "lacking.pth")
    assert embed.main([*map(str, flags), str(tmp_path / "lacking.pth"), "--model", model, "--out",
                       str(tmp_path / "o.npz")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"embed.py: error: --weights {tmp_path / 'lacking.pth'} does not hold a state dict of {model} (1 missing key, "
        f"first {first}); give {model}'s weights, or the --model they are of")


def resnet34_weights():
    """resnet34's state dict of random weights."""
    return tvm.resnet34().state_dict()


def grey_resnet18_weights():
    """resnet18's state dict of random weights with a first convolution for 1-channel images."""
    return {**tvm.resnet18().state_dict(), "conv1.weight": torch.zeros(64, 1, 7, 7)}


@pytest.mark.parametrize("model, state, detail", [
    ("resnet34", None, "{n} missing keys, first layer1.2.conv1.weight"),
    ("resnet18", resnet34_weights, "{n} unexpected keys, first layer1.2.conv1.weight"),
    ("resnet18", grey_resnet18_weights, "1 tensor of another shape, first conv1.weight: [64, 1, 7, 7] in the file, "
                                        "[64, 3, 7, 7] in the model"),
])
def test_a_state_dict_that_does_not_fit_names_what_does_not(model, state, detail, tmp_path, weights, capsys):
    """It said only torch's header line: 'does not hold a state dict of resnet34 (Error(s) in loading state_dict
    for ResNet:)'."""
    if state is not None:
        torch.save(state(), tmp_path / "w.pth")
    given = tmp_path / "w.pth" if state is not None else weights
    n = len(set(tvm.resnet34().state_dict()) - set(tvm.resnet18().state_dict()))
    write_images(tmp_path / "plain", 1, 0)
    assert embed.main(["--data", str(tmp_path / "plain"), "--model", model, "--weights", str(given), "--out",
                       str(tmp_path / "o.npz")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"embed.py: error: --weights {given} does not hold a state dict of {model} ({detail.format(n=n)}); give "
        f"{model}'s weights, or the --model they are of"]


def test_the_data_sets_own_folder_as_path_says_to_give_the_folder_holding_it_as_run_py_does(tmp_path, weights,
                                                                                             capsys):
    """`--path data/MNIST` said 'MNIST is not under data/MNIST; put MNIST/raw/... there' (data/MNIST/MNIST/raw);
    run.py says to give the folder that holds it."""
    write_mnist_slice(tmp_path / "data", n_train=2, n_test=1)
    assert embed.main(["--data", "mnist", "--path", str(tmp_path / "data" / "MNIST"), "--model", "resnet18",
                       "--weights", str(weights), "--out", str(tmp_path / "o.npz")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"embed.py: error: MNIST is not under {tmp_path / 'data' / 'MNIST'}, which is MNIST's own folder: give the "
        f"folder that holds it, --path {tmp_path / 'data'} (see README, 'Data sets')"]


@pytest.mark.parametrize("model", sorted(AUX_SIZES))
def test_googlenet_and_inception_v3_print_one_line_and_no_warning_on_initialisation(model, tmp_path, aux_weights):
    """torchvision's multi-line FutureWarning on their weight initialisation came before the line, though the
    weights are loaded after."""
    proc = embed_cli(tmp_path, aux_weights[model][0], "--model", model, "--size", AUX_SIZES[model])
    assert proc.returncode == 0, proc.stderr
    width = {"googlenet": 1024, "inception_v3": 2048}[model]
    assert proc.stderr.splitlines() == [f"embed.py: {tmp_path / 'o.npz'}: X (2, {width}), y (2,), paths (2,)"]


def test_mnasnet_weights_load_with_the_module_versions_the_file_records(tmp_path, weights):
    """The state dict was copied without its _metadata, so mnasnet's loading (which reads its version there) refused
    every mnasnet file: 'version should be set to 1 or 2 instead of None'."""
    torch.save(tvm.mnasnet0_5().state_dict(), tmp_path / "mnasnet.pth")
    write_images(tmp_path / "plain", 1, 0)
    arrays = embed_to(tmp_path / "m.npz", "--data", tmp_path / "plain", "--weights", tmp_path / "mnasnet.pth",
                      model="mnasnet0_5")
    assert arrays["X"].shape == (2, 1280)
