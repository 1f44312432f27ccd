"""The pure parts of the %px magics and of multiengine.kernel: which engines --targets names,
the options at the start of a %px line, and how IPython 0.10's execute result prints. (The
magics themselves run in ipython3 and Jupyter: test/integration/ipythonSessions.test.ts.)"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'engines', 'python'))

from multiengine.kernel import ResultList, _record  # noqa: E402
from multiengine.magics_runner import TargetsError, describe_targets, parse_targets, split_px_line  # noqa: E402

IDS = [0, 1, 2, 3]


class ParseTargets(unittest.TestCase):
    def test_the_forms_the_console_and_ipyparallel_take(self):
        self.assertEqual(parse_targets('all', IDS), 'all')
        self.assertEqual(parse_targets(' 3 ', IDS), 3)
        self.assertEqual(parse_targets('0,2', IDS), [0, 2])
        self.assertEqual(parse_targets('[0, 2]', IDS), [0, 2])
        self.assertEqual(parse_targets('(1,)', IDS), [1])
        self.assertEqual(parse_targets('1-3', IDS), [1, 2, 3])
        self.assertEqual(parse_targets('3,0-1,1', IDS), [3, 0, 1])
        self.assertEqual(parse_targets('::2', IDS), [0, 2])
        self.assertEqual(parse_targets('1:3', IDS), [1, 2])
        self.assertEqual(parse_targets('-1:', IDS), [3])

    def test_bad_text_is_named_in_the_error(self):
        cases = {
            '': '--targets needs engine ids',
            'x': "'x' is not an engine id",
            '1-': "'1-' is not an engine id or a range like 1-3",
            '3-1': 'the range 3-1 runs backwards',
            '::0': "the slice '::0' has step 0",
            '5:9': "the slice '5:9' selects none of the engines [0, 1, 2, 3]",
            'a:b': "'a:b' is not a slice",
        }
        for text, message in cases.items():
            with self.subTest(text=text):
                with self.assertRaises(TargetsError) as cm:
                    parse_targets(text, IDS)
                self.assertIn(message, str(cm.exception))

    def test_long_lists_are_shortened_when_shown(self):
        self.assertEqual(describe_targets(None), 'all')
        self.assertEqual(describe_targets([0, 2]), '[0, 2]')
        self.assertEqual(describe_targets(list(range(20))), '[0, 1, 2, 3, ..., 16, 17, 18, 19]')


class SplitPxLine(unittest.TestCase):
    def test_options_at_the_start_then_the_code(self):
        self.assertEqual(split_px_line('a = 5'), ({}, 'a = 5'))
        self.assertEqual(split_px_line('--targets 0,2 print(1)'), ({'targets': '0,2'}, 'print(1)'))
        self.assertEqual(split_px_line('--targets=1-3 --noblock x = 1'), ({'targets': '1-3', 'block': False}, 'x = 1'))
        self.assertEqual(split_px_line('--block --group-outputs engine f()'), ({'block': True, 'groupby': 'engine'}, 'f()'))

    def test_anything_else_is_code(self):
        self.assertEqual(split_px_line('--x'), ({}, '--x'))
        self.assertEqual(split_px_line('x --targets 1'), ({}, 'x --targets 1'))

    def test_a_bad_grouping_is_named(self):
        with self.assertRaises(TargetsError) as cm:
            split_px_line('--group-outputs=time x')
        self.assertIn("--group-outputs: 'time' is not one of type, engine, order", str(cm.exception))


class ResultListPrints(unittest.TestCase):
    def test_as_ipython_0_10_printed_execute(self):
        rl = ResultList([
            {'id': 0, 'number': 1, 'input': 'print(c)', 'stdout': '15\n', 'stderr': ''},
            {'id': 1, 'number': 2, 'input': 'print(c)', 'stdout': '', 'stderr': 'warning\n'},
        ])
        self.assertEqual(repr(rl), '<Results List>\n'
                                   '[0] In [1]: print(c)\n'
                                   '[0] Out[1]: 15\n\n'
                                   '[1] In [2]: print(c)\n'
                                   '[1] Err[2]:\n warning\n')
        self.assertEqual(str(rl), repr(rl))
        self.assertEqual(rl[0]['stdout'], '15\n')

    def test_the_0_10_record_keeps_its_keys_order_and_raw_input(self):
        class Reply:
            result, execution_count = None, 5
        record = _record(2, 'd=10; print(d)', Reply(), '10\n', '')
        self.assertEqual(str(record), "{'input': {'translated': 'd=10; print(d)', 'raw': 'd=10; print(d)'}, "
                                      "'number': 5, 'id': 2, 'stdout': '10\\n'}")
        self.assertEqual(repr(ResultList([record])), '<Results List>\n[2] In [5]: d=10; print(d)\n[2] Out[5]: 10\n\n')


if __name__ == '__main__':
    unittest.main()
