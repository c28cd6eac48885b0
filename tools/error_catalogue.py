"""Every refusal the bad-input table and the hostile-file corpus test, with the message graphcore gives.

    python tools/error_catalogue.py > catalogue.md

The suite checks each row's error class and the words that name the problem (``tests/test_bad_inputs.py``'s
``CASES``, ``tests/test_onnx_hostile.py``'s ``CORPUS``); this prints the whole message a user reads, first line
only, so a reviewer can read them all at once and judge their wording.
"""
import argparse
import os
import sys
import tempfile
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tests import test_bad_inputs, test_onnx_hostile  # noqa: E402  (the tables live with their tests)

from graphcore import export  # noqa: E402


def bad_input_rows(root):
    """(id, error class, first line of the message) for each row of the bad-input table."""
    world = test_bad_inputs.World(root)
    for name, call, _error, _fragment, _site, *guard in test_bad_inputs.CASES:
        raised, _ = test_bad_inputs._attempt(world, call, bool(guard))
        yield name, type(raised).__name__, str(raised).strip().splitlines()[0]


def hostile_rows(root):
    """(id, error class, first line of the message) for each file of the hostile ONNX corpus."""
    for name in sorted(test_onnx_hostile.CORPUS):
        item, _reason = test_onnx_hostile.CORPUS[name]
        path = item[1] if isinstance(item, tuple) else test_onnx_hostile._write(os.path.join(root, "models"),
                                                                              name, item)
        try:
            export.from_onnx(path)
        except Exception as error:   # noqa: BLE001  (the refusal is what is printed)
            yield name, type(error).__name__, str(error).strip().splitlines()[0]
        else:
            yield name, "accepted", "(no error: the suite would fail)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as root:
        for title, rows in (("Bad input (tests/test_bad_inputs.py)", bad_input_rows(root)),
                            ("Hostile ONNX files (tests/test_onnx_hostile.py)", hostile_rows(root))):
            print(f"\n### {title}\n\n| case | error | message |\n|---|---|---|")
            for name, error, message in rows:
                print(f"| {name} | {error} | {message.replace('|', '/')} |")


if __name__ == "__main__":
    main()
