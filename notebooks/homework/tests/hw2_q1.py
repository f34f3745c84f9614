OK_FORMAT = True

test = {   'name': 'hw2_q1',
    'points': [0, 0],
    'suites': [   {   'cases': [   {'code': ">>> hw2.check_count('q1a', q1a)\nok\n", 'hidden': False, 'locked': False},
                                   {'code': ">>> hw2.check_count('q1b', q1b)\nok\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
