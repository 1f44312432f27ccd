"""The Python client's task-record calls, with ipyparallel's names, against a real cluster whose
controller keeps its task database in SQLite: db_query (with datetimes), hub_history,
get_result of a list, resubmit, purge_results and purge_everything."""

import datetime
import time
import unittest

from cluster import Cluster, poll
from multiengine import ControllerError

cluster = rc = None


def setUpModule():
    global cluster, rc
    cluster = Cluster(2, 'python', db='sqlite')
    rc = cluster.client()
    rc.wait_for_engines(2)


def tearDownModule():
    rc.close()
    cluster.stop()


def records_of(msg_ids):
    """The records of these requests, once every one has come (direct ones come from their engine's report)."""
    got = []

    def all_there():
        got[:] = rc.db_query({'msg_id': {'$in': list(msg_ids)}})
        return len(set(r['msg_id'] for r in got if r['status'] != 'pending')) == len(msg_ids)
    poll(all_there, what='records of %s' % msg_ids)
    return got


class TaskRecordsTest(unittest.TestCase):
    def test_db_query_times_filters_and_keys(self):
        before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
        # hub_history orders by the time of submission, which has millisecond resolution: a pause
        # between the submissions makes their order that of their times.
        ok = rc[0].apply_async(lambda x: x + 1, 41)
        time.sleep(0.003)
        bad = rc[1].execute('1/0')
        time.sleep(0.003)
        both = rc[:].execute('y = 2')
        self.assertEqual(ok.get(10), 42)
        self.assertRaises(Exception, bad.get, 10)
        both.get(10)
        recs = records_of(ok.msg_ids + bad.msg_ids + both.msg_ids)
        self.assertEqual(len(recs), 4)  # the execute on both engines is one record per engine
        mine = dict(((r['msg_id'], r['engine_id']), r) for r in recs)
        r = mine[(ok.msg_ids[0], 0)]
        self.assertEqual((r['msg_type'], r['status'], r['code']), ('apply_request', 'ok', 'lambda x: x + 1'))
        for k in ('submitted', 'received', 'started', 'completed'):
            self.assertIsInstance(r[k], datetime.datetime)
            self.assertIsNotNone(r[k].tzinfo)
        self.assertLessEqual(r['submitted'], r['received'])
        self.assertLessEqual(r['started'], r['completed'])
        self.assertGreater(r['submitted'], before)
        e = mine[(bad.msg_ids[0], 1)]
        self.assertEqual((e['status'], e['ename']), ('error', 'ZeroDivisionError'))

        # Filters: equality, $in, and times compared with datetimes; keys limit the fields.
        errors = rc.db_query({'status': 'error', 'msg_id': bad.msg_ids[0]}, keys=['ename'])
        self.assertEqual(errors, [{'msg_id': bad.msg_ids[0], 'engine_id': 1, 'ename': 'ZeroDivisionError'}])
        since = rc.db_query({'submitted': {'$gte': before}, 'msg_id': {'$in': both.msg_ids}}, keys=['code'])
        self.assertEqual(sorted((x['engine_id'], x['code']) for x in since), [(0, 'y = 2'), (1, 'y = 2')])
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
        self.assertEqual(rc.db_query({'submitted': {'$gt': later}}), [])
        with self.assertRaisesRegex(ControllerError, 'filter field "colour" is not a task record field'):
            rc.db_query({'colour': 'red'})
        with self.assertRaisesRegex(TypeError, 'db_query takes a dict of fields'):
            rc.db_query('status == error')

        history = rc.hub_history()
        for m in ok.msg_ids + bad.msg_ids + both.msg_ids:
            self.assertIn(m, history)
        self.assertLess(history.index(ok.msg_ids[0]), history.index(both.msg_ids[0]))

    def test_resubmit_and_get_result_of_a_list(self):
        # Single-engine requests through the controller, which keeps execute and apply requests.
        routed = cluster.client(direct=False)
        try:
            first = routed[0].apply_async(lambda: __import__('os').getpid())
            pid0 = first.get(10)
            listed = routed[1].execute('z = 7')
            listed.get(10)
        finally:
            routed.close()
        records_of(first.msg_ids + listed.msg_ids)
        again = rc.resubmit(first)
        self.assertNotEqual(again.msg_ids, first.msg_ids)
        self.assertEqual(again.get(10), pid0)  # the same engine ran it
        rc[1].execute('z = 0', block=True)
        two = rc.resubmit([first.msg_ids[0], listed.msg_ids[0]])
        self.assertEqual(len(two.msg_ids), 2)
        values = two.get(10)
        self.assertEqual(values[0], pid0)
        self.assertEqual(rc[1].pull('z', block=True), 7, 'the execute ran again')
        both = rc.get_result(two.msg_ids)
        self.assertEqual(both.msg_ids, two.msg_ids)
        self.assertEqual(both.get(10)[0], pid0)

        # On a direct connection the controller never saw the code: the error says so, and what to do.
        direct = rc[0].apply_async(lambda: 1)
        direct.get(10)
        records_of(direct.msg_ids)
        with self.assertRaisesRegex(KeyError, 'went to engine 0 on a direct connection.*Client\\(direct=False\\)'):
            rc.resubmit(direct)
        with self.assertRaisesRegex(KeyError, 'no task record with msg_id nope'):
            rc.resubmit('nope')
        with self.assertRaisesRegex(ValueError, 'resubmit needs msg_ids'):
            rc.resubmit([])

    def test_history_and_its_indices_in_get_result_and_resubmit(self):
        a = rc[0].apply_async(lambda: 'a')
        b = rc[1].apply_async(lambda: 'b')
        self.assertEqual((a.get(10), b.get(10)), ('a', 'b'))
        self.assertEqual(rc.history[-2:], a.msg_ids + b.msg_ids)
        self.assertEqual(rc.get_result().msg_ids, b.msg_ids)  # -1, the latest, by default
        self.assertEqual(rc.get_result(-2).get(10), 'a')
        self.assertEqual(rc.get_result([-2, b.msg_ids[0]]).get(10), ['a', 'b'])
        with self.assertRaisesRegex(IndexError, r'get_result: index 100000 is past the history of this client, which has sent \d+ request'):
            rc.get_result(100000)
        with self.assertRaisesRegex(TypeError, "get_result: expected msg_id strings, AsyncResults or indices into this client's history, got 1.5"):
            rc.get_result(1.5)
        routed = cluster.client(direct=False)
        try:
            self.assertEqual(routed.history, [])
            first = routed[0].execute('w = 1')
            first.get(10)
            records_of(first.msg_ids)
            again = routed.resubmit()  # -1 here too
            again.get(10)
            self.assertNotEqual(again.msg_ids, first.msg_ids)
            self.assertEqual(routed.history, first.msg_ids)
        finally:
            routed.close()

    def test_store_keeps_a_result_for_any_client(self):
        v = rc[0]
        with v.temp_flags(store=True):
            kept = v.apply_async(lambda x: x * 3, 14)
        self.assertEqual(kept.get(10), 42)
        plain = rc[0].apply_async(lambda: 'not kept')
        plain.get(10)
        records_of(plain.msg_ids)  # a direct request: its engine reports it a moment later
        lv = rc.load_balanced_view()
        lv.store = True
        lb = lv.apply_async(lambda: 'balanced and kept')
        self.assertEqual(lb.get(10), 'balanced and kept')
        other = cluster.client()
        try:
            self.assertEqual(other.get_result(kept.msg_ids[0]).get(10), 42)
            self.assertEqual(other.get_result(lb.msg_ids[0]).get(10), 'balanced and kept')
            with self.assertRaisesRegex(KeyError, 'answered to the client that sent it .*not kept.*store'):
                other.get_result(plain.msg_ids[0])
        finally:
            other.close()
        with self.assertRaisesRegex(KeyError, "DirectView has no flag 'stored'"):
            v.set_flags(stored=True)

    def test_purge_results(self):
        a = rc[0].execute('p = 1')
        b = rc[:].execute('q = 2')
        a.get(10)
        b.get(10)
        records_of(a.msg_ids + b.msg_ids)
        self.assertEqual(rc.purge_results(b, targets=[1]), 1)
        self.assertEqual([r['engine_id'] for r in rc.db_query({'msg_id': b.msg_ids[0]})], [0])
        self.assertEqual(rc.purge_results(a.msg_ids), 1)
        self.assertEqual(rc.db_query({'msg_id': a.msg_ids[0]}), [])
        with self.assertRaisesRegex(ValueError, 'purge_results needs jobs'):
            rc.purge_results()
        r = rc[1].execute('r = 3')
        r.get(10)
        records_of(r.msg_ids)  # a direct request: wait for its own record, not any of engine 1
        self.assertGreaterEqual(rc.purge_results(targets=[1]), 1)
        self.assertEqual(rc.db_query({'engine_id': 1, 'status': {'$ne': 'pending'}}), [])
        last = rc[0].execute('s = 4')
        last.get(10)
        records_of(last.msg_ids)
        self.assertGreaterEqual(rc.purge_everything(), 1)
        self.assertEqual(rc.db_query({'status': {'$ne': 'pending'}}), [])


if __name__ == '__main__':
    unittest.main()
