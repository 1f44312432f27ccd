/**
 * Whole lines out of text that arrives in pieces (a pipe's chunks, a file's new bytes): a line
 * cut between two pieces is kept until its end comes.
 */
export class LineSplitter {
  private partial = '';

  /** The lines this piece completes, without their '\n'. */
  push(text: string): string[] {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    return lines;
  }

  /** The unfinished last line ('' when none), and forgets it: the text ended (or starts again). */
  end(): string {
    const rest = this.partial;
    this.partial = '';
    return rest;
  }
}
