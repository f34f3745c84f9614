OK_FORMAT = True

test = {   'name': 'hw3_q2',
    'points': [0, 0, 0],
    'suites': [   {   'cases': [   {'code': ">>> hw3.check_count('q2_notifications', q2_notifications)\nok\n", 'hidden': False, 'locked': False},
                                   {'code': ">>> hw3.check_count('q2_interrupts_a', q2_interrupts_a)\nok\n", 'hidden': False, 'locked': False},
                                   {'code': ">>> hw3.check_count('q2_interrupts_b', q2_interrupts_b)\nok\n", 'hidden': False, 'locked': False}],
                      'scored': True,
                      'setup': '',
                      'teardown': '',
                      'type': 'doctest'}]}
