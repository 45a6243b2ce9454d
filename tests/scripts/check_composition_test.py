#!/usr/bin/env python3
"""scripts/check-composition.py: a match passes, any difference fails.

  check_composition_test.py SOURCE_DIR
"""
import copy
import json
import os
import subprocess
import sys
import tempfile
import unittest

SOURCE = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), "..", "..")
SCRIPT = os.path.join(SOURCE, "scripts", "check-composition.py")
EXPECTED = os.path.join(SOURCE, "deploy", "elections",
                        "kz-2023.composition.json")


class CheckComposition(unittest.TestCase):
    def setUp(self):
        with open(EXPECTED, encoding="utf-8") as f:
            self.official = json.load(f)

    def run_check(self, actual):
        # What `tallyctl composition --json` prints: every field, colours,
        # the revision as a string.
        return subprocess.run([sys.executable, SCRIPT, EXPECTED],
                              input=json.dumps(actual), capture_output=True,
                              text=True, timeout=60)

    def printed(self):
        actual = copy.deepcopy(self.official)
        actual["revision"] = "51234"
        for row in actual["parties"]:
            row.setdefault("self_nominated", False)
            row["colour"] = "#123456"
        return actual

    def test_the_official_composition_passes(self):
        result = self.run_check(self.printed())
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("Amanat 62 (40 list + 22 districts)", result.stdout)
        self.assertIn("Self-nominated 7 (0 list + 7 districts)", result.stdout)

    def test_other_seats_fail(self):
        actual = self.printed()
        actual["parties"][0]["district_seats"] = 10
        actual["parties"][0]["seats"] = 50
        result = self.run_check(actual)
        self.assertEqual(result.returncode, 1)
        self.assertIn("composition check FAILED: seats differ", result.stdout)

    def test_provisional_or_unallocated_fails(self):
        actual = self.printed()
        actual["provisional"] = True
        actual["allocated_seats"] = 97
        result = self.run_check(actual)
        self.assertEqual(result.returncode, 1)
        self.assertIn("still provisional", result.stdout)
        self.assertIn("97 of 98 seats allocated", result.stdout)

    def test_row_order_matters(self):
        actual = self.printed()
        actual["parties"][1], actual["parties"][2] = (actual["parties"][2],
                                                      actual["parties"][1])
        self.assertEqual(self.run_check(actual).returncode, 1)


if __name__ == "__main__":
    unittest.main()
