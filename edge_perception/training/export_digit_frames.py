"""Write camera-like frames of scikit-learn digits as PNG files in class folders.

``DIR/<class>/<index>.png``: what ``edge-perception quantize --data``/``--eval-data`` read
as labelled frames. The test split is rendered with the seed the classifier's reported
accuracy uses; calibrate on the training split so that evaluation stays held out.

python -m edge_perception.training.export_digit_frames --split train --count 300 calibration/
python -m edge_perception.training.export_digit_frames --split test evaluation/
"""

import argparse
from pathlib import Path

import cv2

from .digits import load_digit_split, render_camera_frames
from .train_digit_classifier import EVALUATION_SEED


def main(argv=None):
    """Render the chosen split and write it; the module's command line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('output', type=Path, help='folder to fill with <class>/<index>.png')
    parser.add_argument('--split', choices=('train', 'test'), default='test')
    parser.add_argument('--count', type=int, default=0, help='first N digits; 0 for all')
    parser.add_argument('--size', default='160x120', help='frame WIDTHxHEIGHT')
    arguments = parser.parse_args(argv)
    width, height = (int(value) for value in arguments.size.split('x'))
    split = load_digit_split()
    images, labels = ((split.train_images, split.train_labels) if arguments.split == 'train'
                      else (split.test_images, split.test_labels))
    if arguments.count:
        images, labels = images[:arguments.count], labels[:arguments.count]
    # The training split gets another render seed than the held-out test frames.
    seed = EVALUATION_SEED if arguments.split == 'test' else EVALUATION_SEED + 1
    frames = render_camera_frames(images, width, height, seed)
    for index, (frame, label) in enumerate(zip(frames, labels, strict=True)):
        folder = arguments.output / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f'{index:04d}.png'), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    print(f'wrote {len(frames)} {arguments.split} frames to {arguments.output}')


if __name__ == '__main__':
    main()
