OK_FORMAT = True

test = {   'name': 'q1',
    'points': [0, 0],
    'suites': [   {   'cases': [   {'code': ">>> hw1.check_count('q1_trap', q1_trap)\nok\n", 'hidden': False, 'locked': False},
                                   {'code': ">>> hw1.check_count('q1_bt', q1_bt)\nok\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
