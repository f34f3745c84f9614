OK_FORMAT = True

test = {   'name': 'hw2_q3',
    'points': [0, 0],
    'suites': [   {   'cases': [   {'code': ">>> hw2.check_count('q3_hidden', q3_hidden)\nok\n", 'hidden': False, 'locked': False},
                                   {'code': ">>> hw2.check_count('q3_true', q3_true)\nok\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
