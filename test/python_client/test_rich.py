"""Rich results from Python engines: an execute value's MIME bundle, display() on the engine
(the builtin and IPython.display's), and how %px groups output by type, by engine and in order
(ipyparallel's display_outputs), outside IPython, where the text of each bundle is printed."""

import io
import unittest
from contextlib import redirect_stderr, redirect_stdout

from cluster import Cluster

from multiengine.magics_runner import Runner

SETUP = '''
class Tag(object):
    def __init__(self, text):
        self.text = text
    def __repr__(self):
        return self.text
    def _repr_html_(self):
        return '<b>%s</b>' % self.text
'''

#: Each engine prints, displays, prints and displays again, then gives its rank.
CELL = '''
print('a', rank)
display(Tag('x%d' % rank))
print('b', rank)
display(Tag('y%d' % rank))
rank
'''


class RichResults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(2, 'python')
        cls.rc = cls.cluster.client()
        cls.v = cls.rc[:]
        cls.v.block = True
        cls.v.scatter('rank', cls.rc.ids, flatten=True)
        cls.v.execute(SETUP)

    @classmethod
    def tearDownClass(cls):
        cls.rc.close()
        cls.cluster.stop()

    def test_a_value_with_repr_html_comes_as_a_mime_bundle(self):
        ar = self.v.execute("Tag('t%d' % rank)", block=False)
        ar.wait()
        for eid, r in zip(self.rc.ids, ar.get()):
            self.assertEqual(r.result, 't%d' % eid)  # text/plain stays where it was
            self.assertEqual(r.execute_result['data'], {'text/plain': 't%d' % eid, 'text/html': '<b>t%d</b>' % eid})
            data, md = r._repr_mimebundle_()
            self.assertEqual(data['text/plain'], 'Out[%d:%d]: t%d' % (eid, r.execution_count, eid))
            self.assertTrue(data['text/html'].endswith('<b>t%d</b>' % eid), data['text/html'])
            self.assertEqual(md['engine_id'], eid)
        plain = self.v.execute('41 + 1', block=False)
        self.assertEqual([r.execute_result['data'] for r in plain.get()], [{'text/plain': '42'}] * 2)

    def test_mimebundle_and_binary_formats(self):
        code = ('class Pic(object):\n'
                '    def _repr_mimebundle_(self, include=None, exclude=None):\n'
                "        return {'text/markdown': '*m*', 'application/json': {'a': [1]}}, {'text/markdown': {'k': 1}}\n"
                "    def _repr_png_(self):\n"
                "        return b'\\x89PNG'\n"
                'Pic()')
        r = self.rc[0].execute(code, block=True).get()
        data = r.execute_result['data']
        self.assertEqual(data['text/markdown'], '*m*')
        self.assertEqual(data['application/json'], {'a': [1]})
        self.assertEqual(data['image/png'], 'iVBORw==')  # base64, as Jupyter carries images
        self.assertTrue(data['text/plain'].startswith('<__main__.Pic object'))
        self.assertEqual(r.execute_result['metadata'], {'text/markdown': {'k': 1}})

    def test_display_on_the_engine_goes_back_with_the_reply(self):
        ar = self.v.execute("display(Tag('d%d' % rank)); display(7, 'x')", block=False)
        ar.wait()
        for eid, outs in zip(self.rc.ids, ar.outputs):
            self.assertEqual([o['data'] for o in outs], [
                {'text/plain': 'd%d' % eid, 'text/html': '<b>d%d</b>' % eid}, {'text/plain': '7'}, {'text/plain': "'x'"}])
        # IPython.display.display, imported on the engine, publishes the same way (not prints)
        r = self.rc[0].execute("from IPython.display import display as d, HTML\nd(HTML('<i>h</i>'))", block=False)
        r.wait()
        self.assertEqual(r.stdout, '')
        self.assertEqual(r.outputs[0]['data']['text/html'], '<i>h</i>')
        # apply too; a failed request's outputs do not leak into the next one
        a = self.rc[0].apply_async(lambda: display(Tag('applied')) or 5)
        self.assertEqual(a.get(), 5)
        self.assertEqual([o['data']['text/html'] for o in a.outputs], ['<b>applied</b>'])
        with self.assertRaises(Exception):
            self.rc[0].execute("display(Tag('lost')); 1/0", block=True)
        self.assertEqual(self.rc[0].execute('1', block=False).outputs, [])

    def _shown(self, groupby):
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            self.assertIsNone(Runner(self.v).execute(CELL, groupby=groupby))
        return out.getvalue()

    def _out_lines(self, text):
        """`Out[e:count]: v` lines with the count left out (it grows with each execute)."""
        import re
        return re.sub(r'Out\[(\d+):\d+\]', r'Out[\1]', text)

    def test_group_outputs_type(self):
        self.assertEqual(self._out_lines(self._shown('type')), ''.join([
            '[stdout:0] a 0\n', '[stdout:0] b 0\n', '[stdout:1] a 1\n', '[stdout:1] b 1\n',
            '[output:0]\n', 'x0\n', 'y0\n', '[output:1]\n', 'x1\n', 'y1\n',
            'Out[0]: 0\n', 'Out[1]: 1\n']))

    def test_group_outputs_engine(self):
        self.assertEqual(self._out_lines(self._shown('engine')), ''.join([
            '[stdout:0] a 0\n', '[stdout:0] b 0\n', '[output:0]\n', 'x0\n', 'y0\n', 'Out[0]: 0\n',
            '[stdout:1] a 1\n', '[stdout:1] b 1\n', '[output:1]\n', 'x1\n', 'y1\n', 'Out[1]: 1\n']))

    def test_group_outputs_order_collates_the_outputs(self):
        self.assertEqual(self._out_lines(self._shown('order')), ''.join([
            '[stdout:0] a 0\n', '[stdout:0] b 0\n', '[stdout:1] a 1\n', '[stdout:1] b 1\n',
            '[output:0]\n', 'x0\n', '[output:1]\n', 'x1\n', '[output:0]\n', 'y0\n', '[output:1]\n', 'y1\n',
            'Out[0]: 0\n', 'Out[1]: 1\n']))

    def test_streamed_output_then_the_outputs_and_values(self):
        self.assertEqual(self._out_lines(self._shown(None)), self._out_lines(self._shown('type')))


if __name__ == '__main__':
    unittest.main()
