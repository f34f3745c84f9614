OK_FORMAT = True

test = {   'name': 'hw3_q3',
    'points': [0, 0, 0, 0],
    'suites': [   {   'cases': [   {'code': ">>> hw3.check_count('q3_accesses', q3_accesses)\nok\n", 'hidden': False, 'locked': False},
                                   {'code': '>>> hw3.check_function(io_cycles)\nok\n', 'hidden': False, 'locked': False},
                                   {'code': ">>> hw3.check_cycles('q3_emulated', q3_emulated)\nok\n", 'hidden': False, 'locked': False},
                                   {'code': ">>> hw3.check_cycles('q3_virtio', q3_virtio)\nok\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
