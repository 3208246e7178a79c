"""What a refused command looks like from outside: exit status 1 and one line on stderr."""


def assert_one_line_exit_1(result, *words):
    """Assert ``result`` (a ``subprocess.CompletedProcess``) exited 1 with one line on stderr,
    no traceback, holding every one of ``words``.
    """
    assert result.returncode == 1, result.stdout + result.stderr
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1 and 'Traceback' not in message, message
    for word in words:
        assert word in message, message
