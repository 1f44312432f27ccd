"""multiengine.kernel against a real cluster: IPython 0.10's TaskClient (StringTask, MapTask,
get_task_result, barrier, queue_status, clear, abort, map) and MultiEngineClient's keys, reset,
queue_status, clear_queue and kill."""

import unittest

from cluster import Cluster, poll, process_gone

from multiengine.kernel import client


def square(x):
    return x * x


class TaskClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(2, 'python')
        cls.tc = client.TaskClient(cls.cluster.file)
        cls.mec = client.MultiEngineClient(cls.cluster.file)

    @classmethod
    def tearDownClass(cls):
        cls.tc.close()
        cls.mec.close()
        cls.cluster.stop()

    def test_string_task_pushes_runs_and_pulls(self):
        tid = self.tc.run(client.StringTask('c = a*b', push=dict(a=10, b=30), pull='c'))
        self.assertIsInstance(tid, int)
        tr = self.tc.get_task_result(tid, block=True)
        self.assertEqual(tr.results, {'c': 300})
        self.assertEqual(tr.ns.c, 300)
        self.assertEqual(tr['c'], 300)
        self.assertIn(tr.engineid, [0, 1])
        self.assertEqual(repr(tr), 'TaskResult[ID:%d]:{\'c\': 300}' % tid)
        # several names, and clear_after leaves nothing behind on the engine that ran it
        tr = self.tc.run(client.StringTask('x = 1\ny = x + 1', pull=['x', 'y'], clear_after=True), block=True)
        self.assertEqual(tr.results, {'x': 1, 'y': 2})
        self.assertNotIn('y', self.mec.keys(targets=tr.engineid)[0])

    def test_a_failing_string_task_keeps_its_error(self):
        tr = self.tc.run(client.StringTask('1/0'), block=True)
        self.assertEqual(tr.failure.ename, 'ZeroDivisionError')
        with self.assertRaisesRegex(Exception, 'ZeroDivisionError'):
            tr.raise_exception()
        tr = self.tc.run(client.StringTask('z = 1', pull='nope'), block=True)
        self.assertIn("name 'nope' is not defined", str(tr.failure))

    def test_map_task_and_barrier(self):
        tids = [self.tc.run(client.MapTask(square, args=(i,))) for i in range(6)]
        self.tc.barrier(tids)
        self.assertEqual([self.tc.get_task_result(t) for t in tids], [i * i for i in range(6)])
        self.assertEqual(self.tc.get_task_result(self.tc.run(client.MapTask(pow, args=(2,), kwargs={'exp': 5})), block=True), 32)
        self.assertEqual(self.tc.map(square, range(5)), [0, 1, 4, 9, 16])
        self.assertEqual(self.tc.parallel()(square)(range(3)), [0, 1, 4])

    def test_pending_results_queue_status_abort_and_clear(self):
        tc = client.TaskClient(self.cluster.file)
        try:
            slow = [tc.run(client.StringTask('import time; time.sleep(3)')) for _ in range(2)]
            waiting = tc.run(client.MapTask(square, args=(7,)))
            self.assertIsNone(tc.get_task_result(waiting))  # both engines busy: not ready, no block
            status = tc.queue_status()
            self.assertEqual(set(status), {'scheduled', 'pending', 'succeeded', 'failed'})
            self.assertEqual(status['pending'], 3)
            tc.abort(waiting)
            with self.assertRaisesRegex(Exception, '[Aa]bort'):
                tc.get_task_result(waiting, block=True)
            tc.barrier(slow)
            self.assertEqual(tc.queue_status()['pending'], 0)
            self.assertEqual(tc.queue_status()['succeeded'], 2)
            tc.clear()
            with self.assertRaisesRegex(KeyError, 'no task with id 0'):
                tc.get_task_result(slow[0])
            self.assertEqual(tc.queue_status()['succeeded'], 0)
        finally:
            tc.close()

    def test_unsupported_options_say_what_to_use(self):
        with self.assertRaisesRegex(ValueError, 'depend is not supported'):
            client.StringTask('x = 1', depend=lambda: True)
        with self.assertRaisesRegex(ValueError, 'recovery_task is not supported'):
            client.MapTask(square, recovery_task=client.StringTask('x'))
        with self.assertRaisesRegex(TypeError, 'run takes a StringTask or a MapTask'):
            self.tc.run('x = 1')
        with self.assertRaisesRegex(KeyError, 'no task with id 999'):
            self.tc.get_task_result(999)


class MultiEngineClientMoreTest(unittest.TestCase):
    def setUp(self):
        self.cluster = Cluster(2, 'python')
        self.mec = client.MultiEngineClient(self.cluster.file)

    def tearDown(self):
        self.mec.close()
        self.cluster.stop()

    def test_keys_reset_queue_status_clear_queue_and_kill(self):
        mec = self.mec
        mec.execute('a = 1')
        mec.execute('b = 2', targets=1)
        self.assertEqual(mec.keys(), [['a'], ['a', 'b']])
        self.assertEqual(mec.keys(targets=1), [['a', 'b']])
        mec.reset(targets=0)
        self.assertEqual(mec.keys(), [[], ['a', 'b']])
        status = mec.queue_status()
        self.assertEqual([eid for eid, _ in status], [0, 1])
        self.assertEqual(status[0][1]['queue'], 0)
        # clear_queue drops what waits behind a running request
        mec.block = False
        running = mec.execute('import time; time.sleep(2)', targets=0)
        queued = mec.execute('c = 3', targets=0)
        poll(lambda: mec.queue_status(targets=0)[0][1]['queue'] == 1, what='a request to wait on engine 0')
        mec.clear_queue(targets=0)
        with self.assertRaisesRegex(Exception, '[Aa]bort'):
            queued.get_result(block=True)
        running.get_result(block=True)
        mec.block = True
        self.assertNotIn('c', mec.keys(targets=0)[0])
        # kill: an engine, then the controller
        mec.kill(targets=1)
        poll(lambda: mec.get_ids() == [0], what='engine 1 to stop')
        pid = mec._rc.connection_info['controller_pid']
        mec.kill(controller=True)
        poll(lambda: process_gone(pid), what='the controller to exit')


if __name__ == '__main__':
    unittest.main()
